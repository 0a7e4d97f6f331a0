//! `RunReport`: the result of one command (its JSON schema is
//! docs/result.schema.json).

use super::{Check, Class, CleanupState, Counts, Outcome, Reached, Scope};
use crate::config::{ChannelName, EngineName, SuiteFormat, TransportName};
use crate::error::ErrorKind;
use crate::exit::Verdict;
use serde::Serialize;

/// Durations are recorded in seconds to the millisecond.
pub fn seconds(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

pub const RESULT_SCHEMA: &str = "stagerun.result/2";
pub const STAGING_LOG_SCHEMA: &str = "stagerun.staging-log/2";

pub fn staging_log_schema() -> &'static str {
    STAGING_LOG_SCHEMA
}

words! {
    /// The verdict word in machine outputs: a run's verdict, or what ended the
    /// command without one.
    pub enum ResultWord {
        Success = "SUCCESS",
        Failed = "FAILED",
        Hold = "HOLD",
        Skipped = "SKIPPED",
        Error = "ERROR",
    }
}

impl From<Verdict> for ResultWord {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Success => ResultWord::Success,
            Verdict::Failed => ResultWord::Failed,
            Verdict::Hold => ResultWord::Hold,
        }
    }
}

words! {
    /// Where the verdict stands: `pending` until the write is tried.
    pub enum LogStatus {
        Pending = "pending",
        Written = "written",
        Failed = "failed",
    }
}

words! {
    /// A step after the verdict (push, alert).
    pub enum StepStatus {
        Pushed = "pushed",
        Ran = "ran",
        Skipped = "skipped",
        Failed = "failed",
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ErrorInfo {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub class: Class,
    pub rule: String,
    /// Which evidence the rules judged.
    pub scope: Scope,
    pub provenance: Reached,
    /// The transport client's exit code (ssh, docker, …, or the suite when run directly).
    pub exit_code: Option<i32>,
    /// The suite's own exit status, when it ended.
    pub suite_status: Option<i32>,
    pub signal: Option<String>,
    pub timed_out: bool,
    pub started_at: String,
    pub duration_s: f64,
    pub remote_cleanup: CleanupState,
    pub checks: Counts,
    /// The checks this attempt reported failing (at most 20).
    pub failed_checks: Vec<Check>,
    /// Each time the channel was lost mid-suite and stagerun read on in the
    /// same run (the suite was not started again).
    pub reattaches: Vec<ReattachRecord>,
    /// The run an earlier invocation started that this attempt adopted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adopted: Option<AdoptedRun>,
}

/// A channel lost mid-suite and how stagerun read on.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ReattachRecord {
    /// When the channel was lost (UTC, RFC 3339).
    pub at: String,
    /// From the loss to the output flowing again (or to giving up), seconds.
    pub away_s: f64,
    /// The spool offsets (bytes already scanned) the reattach resumed at.
    pub stdout_offset: u64,
    pub stderr_offset: u64,
    /// Connections it took.
    pub tries: u32,
    /// How the channel was lost.
    pub cause: String,
    /// False when no connection could read on.
    pub resumed: bool,
}

/// A run started by an earlier invocation (whose runner was gone) and read
/// to its end by this one.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AdoptedRun {
    /// The run's nonce.
    pub run: String,
    /// When the earlier invocation started it (UTC, RFC 3339).
    pub started_at: String,
}

/// Where the verdict was recorded.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LogState {
    pub path: String,
    pub status: LogStatus,
    /// What happened when it failed, and what now stands in its place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A step after the verdict (push, alert): pushed/ran, skipped or failed.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StepOutcome {
    pub status: StepStatus,
    pub detail: String,
}

/// Everything about a run that happened.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RunDetails {
    pub work_item: String,
    pub repo: String,
    pub outcome: Outcome,
    pub rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    pub summary: String,
    pub checks: Counts,
    pub attempts: Vec<AttemptRecord>,
    pub attempts_allowed: u32,
    pub started_at: String,
    pub finished_at: String,
    pub duration_s: f64,
    /// The channel, or `docker` for the legacy local docker path.
    pub transport: TransportName,
    pub channel: ChannelName,
    pub engine: EngineName,
    pub suite_format: SuiteFormat,
    /// The last attempt's command, as `--dry-run` prints it.
    pub command: String,
    /// Whether what the attempts started where the suite runs is known to be gone.
    pub remote_cleanup: CleanupState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_cleanup_detail: Option<String>,
    /// A previous, killed run's leftovers this run stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<String>,
    /// Lost channels read on in the same run, over all attempts.
    pub reattaches: u32,
    /// Whether the verdict is that of a run an earlier invocation started.
    pub adopted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adopted_run: Option<AdoptedRun>,
    /// `run --preflight`: each step, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preflight: Vec<super::StepResult>,
    pub log: LogState,
    pub log_path: String,
    pub log_written: bool,
    pub push: StepOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<StepOutcome>,
    /// Bytes of the suite's output not shown live (a slow reader); all were scanned.
    pub live_output_dropped_bytes: u64,
    /// A FAILED run: where its checks' history was read from (not in the log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<super::HistoryRead>,
    pub stagerun_version: String,
}

/// The result of one stagerun command (`--json`): a run's verdict and what
/// happened, or what ended the command without one (`error`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RunReport {
    pub schema: String,
    pub verdict: ResultWord,
    pub exit_code: u8,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunDetails>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub check_list: Vec<Check>,
    /// `gate`: the log it read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_file: Option<String>,
    /// The last attempt's output tails, for the log and JUnit.
    #[serde(skip)]
    #[schemars(skip)]
    pub stdout_tail: String,
    #[serde(skip)]
    #[schemars(skip)]
    pub stderr_tail: String,
    /// The verdict the suite gave before the record failed (unrecorded runs).
    #[serde(skip)]
    #[schemars(skip)]
    pub suite_verdict: Option<Verdict>,
}

impl RunReport {
    /// A command that ended without a run (usage, config, busy, skipped, internal).
    pub fn from_error(e: &crate::error::Error) -> RunReport {
        let verdict = match e {
            crate::error::Error::Skipped(_) => ResultWord::Skipped,
            crate::error::Error::Hold(_) => ResultWord::Hold,
            _ => ResultWord::Error,
        };
        RunReport {
            schema: RESULT_SCHEMA.into(),
            verdict,
            exit_code: e.code(),
            reason: e.to_string(),
            error: Some(ErrorInfo {
                kind: e.kind(),
                message: e.to_string(),
            }),
            run: None,
            check_list: Vec::new(),
            log_file: None,
            stdout_tail: String::new(),
            stderr_tail: String::new(),
            suite_verdict: None,
        }
    }

    /// What the failing checks' history says, for one-line outputs:
    /// `C4 (flaky: failed 10 of its last 20 runs, 19 flips; last on ORCH-131)`,
    /// at most three checks.
    pub fn history_notes(&self) -> Option<String> {
        const SHOWN: usize = 3;
        let notes: Vec<String> = self
            .check_list
            .iter()
            .filter_map(|c| Some(format!("{} ({})", c.id, c.history.as_ref()?.text)))
            .collect();
        if notes.is_empty() {
            return None;
        }
        let mut text = notes[..notes.len().min(SHOWN)].join(", ");
        if notes.len() > SHOWN {
            text.push_str(&format!(" and {} more", notes.len() - SHOWN));
        }
        Some(text)
    }

    /// The staging verdict, for runs (HOLD for anything that is not one).
    pub fn staging_verdict(&self) -> Verdict {
        match self.verdict {
            ResultWord::Success => Verdict::Success,
            ResultWord::Failed => Verdict::Failed,
            _ => Verdict::Hold,
        }
    }
}

/// The JSON schema of `--json` output, generated from the type
/// (docs/result.schema.json is checked against it).
#[cfg(test)]
pub fn result_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RunReport)).unwrap_or_default()
}
