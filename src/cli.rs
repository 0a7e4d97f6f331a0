//! Command-line surface. Values given here are the top configuration layer;
//! the environment is read by `config`, not by clap, so every bad value is
//! reported with its source the same way. `command()` adds each option's
//! environment variable and default to its help, from the key list.

use crate::config::{EngineName, SuiteFormat, TransportName};
use crate::diag::ColorChoice;
use clap::{Args, CommandFactory, Parser, Subcommand};
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
    Disconnect(PreflightArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell).
    Completions(CompletionsArgs),
    /// Print a man page (roff): stagerun(1), or one subcommand's.
    Man(ManArgs),
}

#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Show the values for this repository (its `repos.NAME` section applies).
    #[arg(long, default_value = "")]
    pub repo: String,
    /// Configuration file (default: ./stagerun.yaml if present, or $STAGERUN_CONFIG).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the built-in defaults file (every default, commented) and exit.
    #[arg(long)]
    pub defaults: bool,
    /// Print one JSON object on stdout.
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
    /// Output: a terminal table, one JSON object, markdown (a CI step summary) or an SVG heat map.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<HistoryFormat>,
    /// Print one JSON object on stdout (the same as --format json).
    #[arg(long)]
    pub json: bool,
    /// Only this check (repeatable).
    #[arg(long = "check", value_name = "ID")]
    pub checks: Vec<String>,
    /// Only runs started on or after DATE (2026-12-01, or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only the last N runs (HOLD runs included; the SVG's columns, 60 by default).
    #[arg(long, value_name = "N")]
    pub last: Option<usize>,
    /// Only runs of this repo (the logs' `repo`; its `repos.NAME` configuration applies).
    #[arg(long, value_name = "NAME")]
    pub repo: Option<String>,
    /// Configuration file (window and thresholds), as for `run`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Do not read or write the cache under the git directory.
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Repository name (scope, per-repo configuration, and its recent verdicts).
    #[arg(long, default_value = "")]
    pub repo: String,
    /// Configuration file, as for `run`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print one JSON object on stdout.
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
    /// A subcommand's page (stagerun-run(1), …); default: stagerun(1).
    pub subcommand: Option<String>,
    /// Write every page (stagerun.1, stagerun-run.1, …) into this folder.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Options shared by `run`, `preflight` and `disconnect`.
#[derive(Args, Debug, Default, Clone)]
pub struct ChannelArgs {
    /// Repository name (scope check and per-repo configuration).
    #[arg(long)]
    pub repo: String,
    /// Configuration file (default: ./stagerun.yaml if present, or $STAGERUN_CONFIG).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the engine command runs: ssh (the staging host), local, or docker (= local with engine docker).
    #[arg(long, value_enum)]
    pub transport: Option<TransportName>,
    /// How the suite's environment is entered: docker, podman, kubectl or none.
    #[arg(long, value_enum)]
    pub engine: Option<EngineName>,
    /// Staging host (ssh).
    #[arg(long)]
    pub host: Option<String>,
    /// ssh user on the staging host.
    #[arg(long)]
    pub user: Option<String>,
    /// ssh port on the staging host.
    #[arg(long, allow_negative_numbers = true)]
    pub port: Option<String>,
    /// Container the suite runs in (docker, podman; kubectl's -c).
    #[arg(long)]
    pub container: Option<String>,
    /// Pod the suite runs in (kubectl).
    #[arg(long)]
    pub pod: Option<String>,
    /// Kubernetes namespace (kubectl).
    #[arg(long)]
    pub namespace: Option<String>,
    /// kubeconfig context (kubectl).
    #[arg(long, value_name = "CONTEXT")]
    pub kube_context: Option<String>,
    /// Path of the check script (inside the container for container engines).
    #[arg(long, value_name = "PATH")]
    pub check_script: Option<String>,
    /// Interpreter for the check script.
    #[arg(long, value_name = "PY")]
    pub python: Option<String>,
    /// ssh identity file.
    #[arg(long, value_name = "FILE")]
    pub identity_file: Option<String>,
    /// known_hosts file used for strict host key checking.
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<String>,
    /// Time limit of one attempt (seconds, or like 15m).
    #[arg(long, value_name = "DURATION", allow_negative_numbers = true)]
    pub timeout: Option<String>,
    /// Share the ssh master with later invocations for this long (0: close it).
    #[arg(long, value_name = "DURATION", allow_negative_numbers = true)]
    pub persist: Option<String>,
    /// What the suite prints: checks, tap, or junit (an XML report at --suite-report).
    #[arg(long, value_enum)]
    pub suite_format: Option<SuiteFormat>,
    /// junit: where the suite writes its report, where it runs.
    #[arg(long, value_name = "PATH")]
    pub suite_report: Option<String>,
    /// Print exactly one JSON object on stdout (human output goes to stderr).
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
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub retries: Option<String>,
    /// Extra classification rules (YAML), tried before the built-in ones.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<String>,
    /// Time limit of the whole run, retries included (seconds, or like 40m).
    #[arg(long, value_name = "DURATION", allow_negative_numbers = true)]
    pub deadline: Option<String>,
    /// Do not commit and push the log.
    #[arg(long)]
    pub no_push: bool,
    /// Run nothing and exit 0: print what to check (channel, host, engine, container, the suite's command, timeout, retries, each value's source), then the exact argv; =exact prints only the argv.
    #[arg(long, value_enum, value_name = "FORM", num_args = 0..=1, require_equals = true, default_missing_value = "full")]
    pub dry_run: Option<DryRunForm>,
    /// Run the preflight steps first, over the same connection, and record them.
    #[arg(long)]
    pub preflight: bool,
    /// Do not stream the suite's output live (it is still captured for the log).
    #[arg(long)]
    pub quiet: bool,
    /// Also write a JUnit XML report (one testcase per check, one for the infrastructure).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct GateArgs {
    /// Work-item folder whose 15-staging-log.md is read.
    pub work_item_dir: PathBuf,
    /// While a run holds the work item, wait for it (up to SECONDS; no value: an hour).
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "3600")]
    pub wait: Option<u64>,
    /// Print one JSON object on stdout.
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
    /// The command hit stagerun's own timeout.
    #[arg(long)]
    pub timed_out: bool,
    /// A file with the command's stderr.
    #[arg(long, value_name = "FILE")]
    pub stderr_file: Option<PathBuf>,
    /// A file with the command's stdout (check lines or TAP are read from it).
    #[arg(long, value_name = "FILE")]
    pub stdout_file: Option<PathBuf>,
    /// junit: the suite's report file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// The suite's format (default: the configured one).
    #[arg(long, value_enum)]
    pub suite_format: Option<SuiteFormat>,
    /// Which rules judge: channel (the suite never started), suite (it ended), lost, or auto (channel first, then suite).
    #[arg(long, value_enum, default_value = "auto")]
    pub scope: ScopeArg,
    /// Repository whose configuration (rules, patterns) applies.
    #[arg(long, default_value = "")]
    pub repo: String,
    /// Configuration file, as for `run`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Extra rules file, as for `run --rules`.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<String>,
    /// Show every rule considered and why it did or did not match.
    #[arg(long)]
    pub explain: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
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

#[derive(Args, Debug)]
pub struct PreflightArgs {
    #[command(flatten)]
    pub channel: ChannelArgs,
}

/// Flag names of configuration keys, for the help text.
fn key_of_flag(flag: &str) -> Option<&'static str> {
    Some(match flag {
        "retries" => "infra_retries",
        "persist" => "connection_persist",
        "no-push" => "push",
        "kube-context" => "kube_context",
        other => {
            crate::config::KEYS
                .iter()
                .find(|k| k.flag == Some(other))?
                .name
        }
    })
}

/// The command with each key's environment variable and default in its help.
pub fn command() -> clap::Command {
    let mut cmd = Cli::command();
    let defaults = crate::config::defaults_shown();
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for sub in subs {
        cmd = cmd.mut_subcommand(&sub, |mut sc| {
            let ids: Vec<String> = sc.get_arguments().map(|a| a.get_id().to_string()).collect();
            for id in ids {
                let Some(arg) = sc.get_arguments().find(|a| a.get_id() == id.as_str()) else {
                    continue;
                };
                let Some(long) = arg.get_long() else { continue };
                let Some(key) = key_of_flag(long) else {
                    continue;
                };
                let Some(doc) = crate::config::KEYS.iter().find(|k| k.name == key) else {
                    continue;
                };
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                let default = defaults
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| format!(" [default: {v}]"))
                    .unwrap_or_default();
                let extra = format!("{help} [env: {}]{default}", doc.env);
                sc = sc.mut_arg(&id, |a| a.help(extra));
            }
            sc
        });
    }
    cmd
}
