//! Command-line surface. The flags of configuration keys are not declared
//! here: `KeyFlags` makes each subcommand's from the key list and hands
//! their values to `config::resolve` as its top layer. The environment is
//! read by `config`, not by clap, so every bad value is reported with its
//! source the same way. `command()` adds each key flag's environment
//! variable and default to its help.

mod key_flags;

pub use key_flags::{KeyFlags, command};

use crate::config::{Purpose, Request, takes};
use crate::diag::ColorChoice;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "stagerun",
    version,
    about = "Run the staging suite for a work item, classify the outcome, record the verdict",
    long_about = "Runs the deploy-staging suite for a work item, tells infrastructure faults (HOLD) \
from real suite failures (FAILED), writes 15-staging-log.md atomically and exits with the code \
the pipeline gates on: 0 SUCCESS, 1 FAILED, 2 usage, 3 SKIPPED, 75 HOLD, 78 config error, 70 internal.",
    after_help = "Exit status: 0 SUCCESS, 1 FAILED, 2 usage error, 3 SKIPPED, 75 HOLD, 78 configuration error, 70 internal error."
)]
pub struct Cli {
    /// When to colour output: auto (a terminal, unless NO_COLOR or CLICOLOR=0; CLICOLOR_FORCE forces it), always, never.
    #[arg(
        long,
        value_enum,
        global = true,
        default_value = "auto",
        value_name = "WHEN"
    )]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the staging suite for WORK_ITEM_DIR and record the verdict.
    Run(RunArgs),
    /// Read WORK_ITEM_DIR/15-staging-log.md and exit with its verdict's code.
    Gate(GateArgs),
    /// Classify an exit code and captured output offline, with the same rules as `run`.
    Classify(ClassifyArgs),
    /// Check the channel to the suite step by step.
    Preflight(PreflightArgs),
    /// Show the effective configuration and where every value comes from.
    Config(ConfigArgs),
    /// Per-check history from the staging logs in git: runs, fails, flips, flaky and broken checks.
    History(HistoryArgs),
    /// The runner's snapshot: enabled, scope, transport, runs in progress, recent verdicts.
    Status(StatusArgs),
    /// Close the ssh master shared across invocations (connection_persist).
    Disconnect(DisconnectArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell).
    Completions(CompletionsArgs),
    /// Print a man page (roff): stagerun(1), or one subcommand's.
    Man(ManArgs),
}

#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Show the values for this repository (its `repos.NAME` section applies) [default: none: the top level only].
    #[arg(long, default_value = "", hide_default_value = true)]
    pub repo: String,
    #[arg(long, value_name = "FILE", help = CONFIG_HELP)]
    pub config: Option<PathBuf>,
    /// Print the built-in defaults file (every default, commented) and exit [default: the values in effect].
    #[arg(long)]
    pub defaults: bool,
    /// Print one JSON object on stdout [default: one line per key].
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HistoryFormat {
    Table,
    Json,
    Markdown,
    Svg,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// A git repository or a folder inside one (default: the current directory's repository).
    pub path: Option<PathBuf>,
    /// Output: a terminal table, one JSON object, markdown (a CI step summary) or an SVG heat map [default: table].
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<HistoryFormat>,
    /// Print one JSON object on stdout (the same as --format json).
    #[arg(long)]
    pub json: bool,
    /// Only this check (repeatable) [default: every check].
    #[arg(long = "check", value_name = "ID")]
    pub checks: Vec<String>,
    /// Only runs started on or after DATE (2026-12-01, or RFC 3339) [default: every run in the window].
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only the last N runs (HOLD runs included) [default: every run; the SVG shows the last 60].
    #[arg(long, value_name = "N")]
    pub last: Option<usize>,
    /// Only runs of this repo (the logs' `repo`; its `repos.NAME` configuration applies) [default: every repo].
    #[arg(long, value_name = "NAME")]
    pub repo: Option<String>,
    /// Configuration file (window and thresholds) [default: $STAGERUN_CONFIG if set, else ./stagerun.yaml if present, else none].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Do not read or write the cache under the git directory [default: the cache is used].
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Repository name (scope, per-repo configuration, and its recent verdicts) [default: none: the top level only].
    #[arg(long, default_value = "", hide_default_value = true)]
    pub repo: String,
    #[arg(long, value_name = "FILE", help = CONFIG_HELP)]
    pub config: Option<PathBuf>,
    /// Print one JSON object on stdout [default: a few lines of text].
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// A subcommand's page: run (or stagerun-run), gate, … [default: stagerun(1)].
    pub subcommand: Option<String>,
    /// Write every page (stagerun.1, stagerun-run.1, …) into this folder [default: print one page on stdout].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

const CONFIG_HELP: &str = "Configuration file [default: $STAGERUN_CONFIG if set, else ./stagerun.yaml if present, else none]";

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Work-item folder, e.g. docs/work-items/ORCH-115 (its name is the work-item id).
    pub work_item_dir: PathBuf,
    /// Repository name (scope check and per-repo configuration).
    #[arg(long)]
    pub repo: String,
    #[arg(long, value_name = "FILE", help = CONFIG_HELP)]
    pub config: Option<PathBuf>,
    /// Print exactly one JSON object on stdout (human output goes to stderr) [default: no JSON; the result line on stderr].
    #[arg(long)]
    pub json: bool,
    /// Run nothing and exit 0: print what to check (channel, host, engine, container, the suite's command, timeout, retries, each value's source), then the exact argv; =exact prints only the argv.
    #[arg(long, value_enum, value_name = "FORM", num_args = 0..=1, require_equals = true, default_missing_value = "full")]
    pub dry_run: Option<DryRunForm>,
    /// Run the preflight steps first, over the same connection, and record them [default: no preflight steps].
    #[arg(long)]
    pub preflight: bool,
    /// Do not stream the suite's output live (it is still captured for the log) [default: streamed live].
    #[arg(long)]
    pub quiet: bool,
    /// Also write a JUnit XML report (one testcase per check, one for the infrastructure) [default: none].
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    #[command(flatten)]
    pub keys: KeyFlags<{ takes::RUN }>,
}

impl RunArgs {
    pub fn request(&self) -> Request<'_> {
        Request::new(
            Purpose::Run,
            &self.repo,
            self.config.as_deref(),
            self.keys.0.clone(),
        )
    }
}

#[derive(Args, Debug)]
pub struct PreflightArgs {
    /// Repository name (scope check and per-repo configuration).
    #[arg(long)]
    pub repo: String,
    #[arg(long, value_name = "FILE", help = CONFIG_HELP)]
    pub config: Option<PathBuf>,
    /// Print exactly one JSON object on stdout (human output goes to stderr) [default: no JSON].
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub keys: KeyFlags<{ takes::PREFLIGHT }>,
}

impl PreflightArgs {
    pub fn request(&self) -> Request<'_> {
        let flags = self.keys.0.clone();
        Request::new(
            Purpose::Preflight,
            &self.repo,
            self.config.as_deref(),
            flags,
        )
    }
}

#[derive(Args, Debug)]
pub struct DisconnectArgs {
    /// Repository name (scope check and per-repo configuration).
    #[arg(long)]
    pub repo: String,
    #[arg(long, value_name = "FILE", help = CONFIG_HELP)]
    pub config: Option<PathBuf>,
    /// Print exactly one JSON object on stdout (human output goes to stderr) [default: no JSON].
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub keys: KeyFlags<{ takes::DISCONNECT }>,
}

impl DisconnectArgs {
    pub fn request(&self) -> Request<'_> {
        let flags = self.keys.0.clone();
        Request::new(
            Purpose::Disconnect,
            &self.repo,
            self.config.as_deref(),
            flags,
        )
    }
}

#[derive(Args, Debug)]
pub struct GateArgs {
    /// Work-item folder whose 15-staging-log.md is read.
    pub work_item_dir: PathBuf,
    /// While a run holds the work item, wait for it (up to DURATION: seconds, or like 10m; no value: an hour) [default: no wait: exit 75 at once].
    #[arg(long, value_name = "DURATION", num_args = 0..=1, default_missing_value = "1h", value_parser = crate::config::parse_duration)]
    pub wait: Option<std::time::Duration>,
    /// Print one JSON object on stdout [default: one line].
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ClassifyArgs {
    /// Exit code of the command (omit with --signal or --timed-out).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub exit_code: Option<i32>,
    /// The command was killed by this signal (number or name, e.g. 9 or KILL).
    #[arg(long, value_name = "SIG")]
    pub signal: Option<String>,
    /// The command hit stagerun's own timeout [default: it did not].
    #[arg(long)]
    pub timed_out: bool,
    /// A file with the command's stderr [default: none: empty stderr].
    #[arg(long, value_name = "FILE")]
    pub stderr_file: Option<PathBuf>,
    /// A file with the command's stdout (check lines or TAP are read from it) [default: none: empty stdout].
    #[arg(long, value_name = "FILE")]
    pub stdout_file: Option<PathBuf>,
    /// junit: the suite's report file [default: none: no report].
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Which rules judge: channel (the suite never started), suite (it ended), lost, or auto (channel first, then suite).
    #[arg(long, value_enum, default_value = "auto")]
    pub scope: ScopeArg,
    /// Repository whose configuration (rules, patterns) applies [default: none: the top level only].
    #[arg(long, default_value = "", hide_default_value = true)]
    pub repo: String,
    #[arg(long, value_name = "FILE", help = CONFIG_HELP)]
    pub config: Option<PathBuf>,
    /// Show every rule considered and why it did or did not match [default: the matching rule only].
    #[arg(long)]
    pub explain: bool,
    /// Print one JSON object on stdout [default: a few lines of text].
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub keys: KeyFlags<{ takes::CLASSIFY }>,
}

impl ClassifyArgs {
    pub fn request(&self) -> Request<'_> {
        let flags = self.keys.0.clone();
        Request::new(Purpose::Inspect, &self.repo, self.config.as_deref(), flags)
    }
}

/// What `run --dry-run` prints: `full`, what to check and each value's
/// source, then the exact argv; `exact`, only the argv. (No doc comment
/// per value: clap would turn the whole help into its long layout.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DryRunForm {
    Full,
    Exact,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ScopeArg {
    Auto,
    Channel,
    Suite,
    Lost,
}

#[cfg(test)]
mod tests;
