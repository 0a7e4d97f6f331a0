//! Steps beside the run: a preflight step, the read of the checks' history.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StepResult {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<super::Class>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    pub duration_s: f64,
}

/// Where the notes came from (the run's JSON; not in the log).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HistoryRead {
    pub status: HistoryStatus,
    pub detail: String,
    pub repository: Option<String>,
    /// Earlier runs of this repo found.
    pub earlier_runs: usize,
    pub cache: CacheUse,
    pub duration_s: f64,
}

words! {
    /// How the read of the checks' history ended.
    pub enum HistoryStatus {
        Read = "read",
        /// Not in a git repository.
        None = "none",
        Off = "off",
        TimedOut = "timed-out",
        Interrupted = "interrupted",
        Failed = "failed",
    }
}

words! {
    /// How the history cache served a read.
    pub enum CacheUse {
        /// Every ref as the cache saw it: no git log at all.
        Warm = "warm",
        /// New commits read on top of it.
        Updated = "updated",
        /// Everything read (no cache, an old one, or a ref rewritten).
        Cold = "cold",
        /// Not used.
        Off = "off",
    }
}
