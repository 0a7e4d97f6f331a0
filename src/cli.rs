//! Command-line surface. Values given here are the top layer of configuration;
//! environment variables are read by `config`, not by clap, so that every bad
//! value is reported with its source the same way.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "stagerun",
    version,
    about = "Run the staging suite for a work item, classify the outcome, record the verdict",
    long_about = "Runs the deploy-staging suite for a work item, tells infrastructure faults (HOLD) \
from real suite failures (FAILED), writes 15-staging-log.md atomically and exits with the code \
the pipeline gates on: 0 SUCCESS, 1 FAILED, 2 usage, 3 SKIPPED, 75 HOLD, 78 config error, 70 internal."
)]
pub struct Cli {
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
    /// Check the channel to the staging host step by step.
    Preflight(PreflightArgs),
    /// Show the effective configuration and where every value comes from.
    Config(ConfigArgs),
    /// Print a shell completion script (bash, zsh, fish).
    Completions(CompletionsArgs),
    /// Print the man page (roff).
    Man,
}

#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Show the values for this repo (its `repos.<name>` section applies).
    #[arg(long, default_value = "")]
    pub repo: String,
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    Ssh,
    Docker,
    Local,
}

impl TransportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Ssh => "ssh",
            TransportKind::Docker => "docker",
            TransportKind::Local => "local",
        }
    }
}

/// Settings shared by `run` and `preflight`.
#[derive(Args, Debug, Default, Clone)]
pub struct ChannelArgs {
    /// Repository name (scope check and per-repo configuration).
    #[arg(long)]
    pub repo: String,
    /// Configuration file (default: ./stagerun.yaml if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long, value_enum)]
    pub transport: Option<TransportKind>,
    /// Staging host (ssh transport).
    #[arg(long)]
    pub host: Option<String>,
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long)]
    pub port: Option<u16>,
    /// Container the suite runs in (ssh and docker transports).
    #[arg(long)]
    pub container: Option<String>,
    /// Path of the check script (inside the container for ssh/docker).
    #[arg(long, value_name = "PATH")]
    pub check_script: Option<String>,
    /// Interpreter for the check script.
    #[arg(long, value_name = "PY")]
    pub python: Option<String>,
    /// ssh identity file.
    #[arg(long, value_name = "FILE")]
    pub identity_file: Option<PathBuf>,
    /// known_hosts file used for strict host key checking.
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// Whole-run timeout per attempt, in seconds.
    #[arg(long, value_name = "S")]
    pub timeout: Option<String>,
    /// Print a JSON result object on stdout (human output goes to stderr).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Work-item folder, e.g. docs/work-items/ORCH-115 (its name is the work-item id).
    pub work_item_dir: PathBuf,
    #[command(flatten)]
    pub channel: ChannelArgs,
    /// Mode passed to the check script.
    #[arg(long)]
    pub mode: Option<String>,
    /// Retry budget for transient infrastructure faults.
    #[arg(long, value_name = "N")]
    pub retries: Option<String>,
    /// Extra classification rules (YAML), applied before the built-in ones.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Do not commit and push the log.
    #[arg(long)]
    pub no_push: bool,
    /// Print the exact argv that would run, and exit 0.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not stream the suite's output live (it is still captured for the log).
    #[arg(long)]
    pub quiet: bool,
    /// Also write a JUnit XML report (one testcase per check, one for the infrastructure outcome).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct GateArgs {
    pub work_item_dir: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ClassifyArgs {
    /// Exit code of the command (omit with --signal).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub exit_code: Option<i32>,
    /// The command was killed by this signal (number or name, e.g. 9 or KILL).
    #[arg(long, value_name = "SIG")]
    pub signal: Option<String>,
    /// The command hit stagerun's own timeout.
    #[arg(long)]
    pub timed_out: bool,
    #[arg(long, value_name = "F")]
    pub stderr_file: Option<PathBuf>,
    #[arg(long, value_name = "F")]
    pub stdout_file: Option<PathBuf>,
    /// Extra rules file, as for `run --rules`.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Show every rule considered and why it did or did not match.
    #[arg(long)]
    pub explain: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PreflightArgs {
    #[command(flatten)]
    pub channel: ChannelArgs,
}
