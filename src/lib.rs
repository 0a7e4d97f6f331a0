//! stagerun: the deterministic runner for the deploy-staging step.
//! See SPEC (shared/SPEC.md) and docs/ for the contract.

pub mod alert;
pub mod capture;
pub mod checks;
pub mod classify;
pub mod cli;
pub mod commands;
pub mod config;
pub mod exit;
pub mod integrations;
pub mod lock;
pub mod log;
pub mod push;
pub mod retry;
pub mod runner;
pub mod signals;
pub mod sshmaster;
pub mod supervise;
pub mod transport;
pub mod ui;
pub mod workitem;

use clap::Parser;

/// Parses arguments and runs the command; returns the process exit code.
pub fn main_entry() -> u8 {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    exit::SUCCESS
                }
                _ => exit::USAGE,
            };
        }
    };
    let result = match &cli.command {
        cli::Command::Run(a) => runner::run(a),
        cli::Command::Gate(a) => commands::gate(a),
        cli::Command::Classify(a) => commands::classify(a),
        cli::Command::Preflight(a) => preflight::run(a),
        cli::Command::Config(a) => commands::show_config(a),
        cli::Command::Completions(a) => commands::completions(a),
        cli::Command::Man => commands::man(),
    };
    match result {
        Ok(code) => code,
        Err(e) => match e.downcast_ref::<exit::Exit>() {
            Some(x) => {
                eprintln!("stagerun: error: {}", x.message);
                x.code
            }
            None => {
                eprintln!("stagerun: internal error: {e:#}");
                exit::INTERNAL
            }
        },
    }
}

pub mod preflight;
