//! Flake memory: every version of every staging log in the repository's
//! refs (and work tree) is a run; per check, runs, passes, fails, flips, a
//! flip rate and a label (docs/history.md). Only runs in which the suite
//! answered count: a HOLD run adds nothing.
//!
//! `git` reads the versions (git.rs, read.rs), `parse` reads one log, a
//! cache under the git directory keeps what was read (cache.rs), `score`
//! scores, `render`/`svg` show it, `annotate` puts it where a failure is
//! reported.

pub mod annotate;
mod cache;
mod git;
pub mod parse;
pub mod read;
pub mod render;
pub mod report;
pub mod score;
pub mod svg;

use crate::exit::Verdict;
pub use crate::state::fingerprint;
use std::collections::HashMap;

/// One check's result in one run, as history counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mark {
    Pass,
    Fail,
    Waived,
    Skip,
}

impl Mark {
    /// The table's status word. ERROR is a failing check; TODO is expected
    /// to fail, so it counts as skipped.
    pub fn from_status(word: &str) -> Option<Mark> {
        Some(match word {
            "PASS" => Mark::Pass,
            "FAIL" | "ERROR" => Mark::Fail,
            "WAIVED" => Mark::Waived,
            "SKIP" | "TODO" => Mark::Skip,
            _ => return None,
        })
    }

    pub fn letter(self) -> char {
        match self {
            Mark::Pass => 'P',
            Mark::Fail => 'F',
            Mark::Waived => 'W',
            Mark::Skip => 'S',
        }
    }

    pub fn from_letter(c: char) -> Option<Mark> {
        Some(match c {
            'P' => Mark::Pass,
            'F' => Mark::Fail,
            'W' => Mark::Waived,
            'S' => Mark::Skip,
            _ => return None,
        })
    }
}

/// Interned names: work items, repos, outcome classes and check ids are
/// stored once, each run holds numbers (its memory is a few bytes per check).
#[derive(Debug, Default, Clone)]
pub struct Names {
    index: HashMap<String, u32>,
    list: Vec<String>,
}

impl Names {
    pub fn id(&mut self, name: &str) -> u32 {
        if let Some(&n) = self.index.get(name) {
            return n;
        }
        let n = self.list.len() as u32;
        self.list.push(name.to_string());
        self.index.insert(name.to_string(), n);
        n
    }

    pub fn find(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    pub fn name(&self, n: u32) -> &str {
        self.list.get(n as usize).map(String::as_str).unwrap_or("")
    }
}

#[derive(Debug, Clone)]
pub struct Run {
    pub work_item: u32,
    pub repo: u32,
    pub outcome: u32,
    pub started_ms: i64,
    pub verdict: Verdict,
    /// The suite answered (SUCCESS or FAILED, outcome suite-ran): only
    /// these runs count for any check.
    pub answered: bool,
    /// Of the log's text: which of two versions of one run is kept does
    /// not depend on the order they were read in.
    pub fingerprint: u64,
    pub checks: Box<[(u32, Mark)]>,
}

impl Run {
    /// Which of two versions of one run wins: one in which the suite
    /// answered (a log whose status line was later rewritten to HOLD in
    /// place still records the answer), then the fuller table.
    fn rank(&self) -> (bool, usize, u64) {
        (self.answered, self.checks.len(), self.fingerprint)
    }
}

/// Every run read, each once: (work item, start time) is the run's identity.
#[derive(Debug, Default, Clone)]
pub struct Store {
    pub names: Names,
    runs: Vec<Run>,
    index: HashMap<(u32, i64), usize>,
}

impl Store {
    pub fn add_log(&mut self, log: parse::LogRun, fingerprint: u64) {
        let checks = log
            .checks
            .iter()
            .map(|(id, mark)| (self.names.id(id), *mark))
            .collect();
        let outcome = self.names.id(&log.outcome);
        let run = Run {
            work_item: self.names.id(&log.work_item),
            repo: self.names.id(&log.repo),
            answered: matches!(log.verdict, Verdict::Success | Verdict::Failed)
                && log.outcome == "suite-ran",
            outcome,
            started_ms: log.started_ms,
            verdict: log.verdict,
            fingerprint,
            checks,
        };
        self.add(run);
    }

    pub fn add(&mut self, run: Run) {
        let key = (run.work_item, run.started_ms);
        match self.index.get(&key) {
            Some(&at) => {
                if run.rank() > self.runs[at].rank() {
                    self.runs[at] = run;
                }
            }
            None => {
                self.index.insert(key, self.runs.len());
                self.runs.push(run);
            }
        }
    }

    /// Forgets one run (the run being reported is not its own history).
    pub fn remove(&mut self, work_item: &str, started_ms: i64) {
        let Some(w) = self.names.find(work_item) else {
            return;
        };
        if let Some(at) = self.index.remove(&(w, started_ms)) {
            self.runs.swap_remove(at);
            if let Some(moved) = self.runs.get(at) {
                self.index.insert((moved.work_item, moved.started_ms), at);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// Oldest first; ties by work item, then version, for a stable order.
    pub fn sorted(&self) -> Vec<&Run> {
        let mut v: Vec<&Run> = self.runs.iter().collect();
        v.sort_by(|a, b| {
            (a.started_ms, self.names.name(a.work_item), a.fingerprint).cmp(&(
                b.started_ms,
                self.names.name(b.work_item),
                b.fingerprint,
            ))
        });
        v
    }

    pub fn runs(&self) -> &[Run] {
        &self.runs
    }
}

/// RFC 3339 with milliseconds, as the logs write their times.
pub fn time_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
