//! stagerun: the deterministic runner for the deploy-staging step.
//! The contract is docs/contract.md; docs/architecture.md shows the data
//! flow from argv to exit code.

#[macro_use]
mod words;
#[macro_use]
mod diag;
mod capture;
mod classify;
mod cli;
mod commands;
mod config;
mod error;
mod exit;
mod fault;
mod history;
mod lock;
mod model;
mod preflight;
mod process;
mod report;
mod run;
mod signals;
mod state;
mod suggest;
mod suite;
mod transport;
mod workitem;

use clap::Parser;
use error::Error;

/// Parses arguments and runs the command; returns the process exit code.
pub fn main_entry() -> u8 {
    install_panic_hook();
    let raw: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let wants_json = raw.iter().any(|a| a == "--json");
    // A `run` the arguments of which do not parse still owes a CI step its
    // outputs (GITHUB_OUTPUT, annotation, summary).
    let is_run = raw
        .iter()
        .skip(1)
        .find(|a| !a.to_string_lossy().starts_with('-'))
        == Some(&std::ffi::OsString::from("run"));
    // The plain command parses; the one with every key's environment
    // variable and default in its help is only built to show help.
    let cli = match cli::Cli::try_parse_from(&raw) {
        Ok(c) => c,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp
                    | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            let e = cli::command().try_get_matches_from(&raw).err().unwrap_or(e);
            return clap_error(e, wants_json, is_run);
        }
        Err(e) => return clap_error(e, wants_json, is_run),
    };
    diag::set_color(cli.color);
    let (result, json) = match &cli.command {
        cli::Command::Run(a) => return run::run(a),
        cli::Command::Gate(a) => return commands::gate::gate(a),
        cli::Command::Classify(a) => (commands::classify::classify(a), a.json),
        cli::Command::Preflight(a) => (commands::preflight(a), a.json),
        cli::Command::Config(a) => (commands::config::show(a), a.json),
        cli::Command::History(a) => (
            commands::history::history(a),
            a.json || a.format == Some(cli::HistoryFormat::Json),
        ),
        cli::Command::Status(a) => (commands::status::status(a), a.json),
        cli::Command::Disconnect(a) => (commands::disconnect(a), a.json),
        cli::Command::Completions(a) => (commands::completions(a), false),
        cli::Command::Man(a) => (commands::man::man(a), false),
    };
    match result {
        Ok(code) => code,
        Err(e) => report::Reporter::for_error(json).emit_error(&e),
    }
}

fn clap_error(e: clap::Error, json: bool, is_run: bool) -> u8 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let text = if diag::color() {
                e.render().ansi().to_string()
            } else {
                e.render().to_string()
            };
            diag::write(diag::Stream::Out, text.as_bytes());
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                exit::USAGE
            } else {
                exit::SUCCESS
            }
        }
        _ => {
            diag::write(diag::Stream::Err, e.render().to_string().as_bytes());
            let first = e.render().to_string();
            let first = first
                .lines()
                .next()
                .unwrap_or("usage error")
                .trim_start_matches("error: ")
                .to_string();
            report::Reporter::for_usage_error(json, is_run).emit_error(&Error::Usage(first));
            exit::USAGE
        }
    }
}

/// Panic messages go through the writer, like everything else: a stalled
/// stderr must not turn a panic into a hang.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        diag::line(
            diag::Stream::Err,
            &format!("stagerun: internal error: {msg}{at}"),
        );
    }));
}

/// After a panic: stop the suite (here and where it runs), leave a HOLD
/// record for `gate`, and still give the one line and the one JSON object.
pub fn after_panic() {
    process::registry::cleanup();
    let json = std::env::args_os().any(|a| a == "--json");
    let e =
        Error::Internal("stagerun panicked (see the message above); the suite was stopped".into());
    report::Reporter::for_panic(json).emit_error(&e);
}

/// Waits for queued output (bounded for live echo; until a new signal for
/// results and diagnostics).
pub fn finish_output() {
    diag::finish(signals::count());
}

pub const INTERNAL: u8 = exit::INTERNAL;
