//! Steps beside the run: a preflight step, the read of the checks' history.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StepResult {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    pub duration_s: f64,
}

/// Where the notes came from (the run's JSON; not in the log).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HistoryRead {
    /// read | none (not in a git repository) | off | timed-out | interrupted | failed
    pub status: String,
    pub detail: String,
    pub repository: Option<String>,
    /// Earlier runs of this repo found.
    pub earlier_runs: usize,
    /// warm | updated | cold | off
    pub cache: String,
    pub duration_s: f64,
}
