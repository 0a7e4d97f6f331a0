//! What `stagerun history` reports: the runs chosen by the filters, each
//! check's figures, and the window and thresholds used. Its JSON schema is
//! docs/history.schema.json, generated from the type.

use super::read::Loaded;
use super::score::{self, CheckStats, Params};
use super::{Run, Store, time_text};
use serde::Serialize;

pub const HISTORY_SCHEMA: &str = "stagerun.history/1";

/// Which runs and checks to show.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub checks: Vec<String>,
    pub since_ms: Option<i64>,
    pub last: Option<usize>,
    pub repo: Option<String>,
}

impl Filter {
    /// The runs it keeps, oldest first: by repo and start, then the last N.
    pub fn select<'a>(&self, store: &'a Store) -> Vec<&'a Run> {
        let repo = self.repo.as_deref().map(|r| store.names.find(r));
        let mut runs: Vec<&Run> = store
            .sorted()
            .into_iter()
            .filter(|r| repo.is_none_or(|want| Some(r.repo) == want))
            .filter(|r| self.since_ms.is_none_or(|s| r.started_ms >= s))
            .collect();
        if let Some(n) = self.last
            && runs.len() > n
        {
            runs.drain(..runs.len() - n);
        }
        runs
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RunCounts {
    pub total: usize,
    /// Runs in which the suite answered (SUCCESS or FAILED): the only ones counted.
    pub answered: usize,
    /// HOLD runs: infrastructure faults, interruptions, busy; they count for nothing.
    pub hold: usize,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Filters {
    pub check: Vec<String>,
    pub since: Option<String>,
    pub last: Option<usize>,
    pub repo: Option<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Source {
    pub cache: crate::model::CacheUse,
    /// Log versions read from git this time.
    pub versions_read: usize,
    /// Logs read from the work tree (those that differ from HEAD).
    pub work_tree_logs: usize,
    pub duration_s: f64,
}

/// `stagerun history --json`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HistoryReport {
    pub schema: String,
    /// The repository read (its top folder, or its git folder when bare).
    pub repository: String,
    pub runs: RunCounts,
    pub work_items: usize,
    pub first_run: Option<String>,
    pub last_run: Option<String>,
    /// Each check's figures cover its last this many runs (0: every run).
    pub window: u32,
    /// Broken: failed in each of its last this many runs.
    pub broken_after: u32,
    /// Flaky: at least this many runs…
    pub flaky_min_runs: u32,
    /// …and a flip rate at or above this.
    pub flaky_flip_rate: f64,
    pub filters: Filters,
    /// Broken first, then flaky, then by failure rate.
    pub checks: Vec<CheckStats>,
    pub source: Source,
}

pub fn build(
    loaded: &Loaded,
    runs: &[&Run],
    filter: &Filter,
    filters: Filters,
    p: &Params,
) -> HistoryReport {
    let store = &loaded.store;
    let mut checks = score::score(store, runs, p);
    if !filter.checks.is_empty() {
        checks.retain(|c| filter.checks.contains(&c.id));
    }
    let answered = runs.iter().filter(|r| r.answered).count();
    let mut items: Vec<u32> = runs.iter().map(|r| r.work_item).collect();
    items.sort_unstable();
    items.dedup();
    HistoryReport {
        schema: HISTORY_SCHEMA.into(),
        repository: loaded.repo.top.display().to_string(),
        runs: RunCounts {
            total: runs.len(),
            answered,
            hold: runs.len() - answered,
        },
        work_items: items.len(),
        first_run: runs.first().map(|r| time_text(r.started_ms)),
        last_run: runs.last().map(|r| time_text(r.started_ms)),
        window: p.window,
        broken_after: p.broken_after,
        flaky_min_runs: p.flaky_min_runs,
        flaky_flip_rate: p.flaky_flip_rate,
        filters,
        checks,
        source: Source {
            cache: loaded.cache,
            versions_read: loaded.versions_read,
            work_tree_logs: loaded.work_tree_logs,
            duration_s: crate::model::seconds(loaded.duration),
        },
    }
}

/// The JSON schema of `history --json`, generated from the type.
#[cfg(test)]
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(HistoryReport)).unwrap_or_default()
}
