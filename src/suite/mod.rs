//! The suite's own answer, in whatever format it speaks: `checks` (native
//! `ID STATUS detail` lines), `tap` (TAP 13/14) or `junit` (an XML report).
//! Every format ends in the same `SuiteReport`: a per-check table and the
//! facts the classification rules look at.

pub mod checks;
pub mod junit;
pub mod tap;

pub use crate::model::{Check, Counts, Status};

/// A flood of distinct ids must not grow memory without bound.
pub const MAX_CHECKS: usize = 500;
const MAX_DETAIL: usize = 300;
/// Failing checks kept per attempt, for the attempt's record.
pub const MAX_FAILED_KEPT: usize = 20;

#[derive(Debug, Clone, Default)]
pub struct CheckTable {
    pub checks: Vec<Check>,
    pub dropped: u64,
    pub dropped_fail: u64,
    /// The first failing checks as reported (kept even if the id later passes).
    pub failed_seen: Vec<Check>,
}

pub fn truncate_chars(s: &mut String, max: usize) {
    if let Some((idx, _)) = s.char_indices().nth(max) {
        s.truncate(idx);
        s.push('…');
    }
}

impl CheckTable {
    /// Records a result; the last status of an id wins for the table.
    pub fn record(&mut self, id: String, status: Status, mut detail: String) {
        truncate_chars(&mut detail, MAX_DETAIL);
        if matches!(status, Status::Fail | Status::Error)
            && self.failed_seen.len() < MAX_FAILED_KEPT
        {
            self.failed_seen.push(Check {
                id: id.clone(),
                status,
                detail: detail.clone(),
                history: None,
            });
        }
        if let Some(existing) = self.checks.iter_mut().find(|c| c.id == id) {
            existing.status = status;
            existing.detail = detail;
        } else if self.checks.len() < MAX_CHECKS {
            self.checks.push(Check {
                id,
                status,
                detail,
                history: None,
            });
        } else {
            self.dropped += 1;
            if matches!(status, Status::Fail | Status::Error) {
                self.dropped_fail += 1;
            }
        }
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            total: self.checks.len(),
            dropped: self.dropped,
            dropped_fail: self.dropped_fail,
            ..Counts::default()
        };
        for check in &self.checks {
            match check.status {
                Status::Pass => c.pass += 1,
                Status::Fail => c.fail += 1,
                Status::Error => c.error += 1,
                Status::Waived => c.waived += 1,
                Status::Skip => c.skip += 1,
                Status::Todo => c.todo += 1,
            }
        }
        c
    }

    /// `8/10 PASS, C9a/C9b waived`.
    pub fn summary(&self) -> String {
        if self.checks.is_empty() {
            return "no checks reported".into();
        }
        let c = self.counts();
        let mut parts = vec![format!("{}/{} PASS", c.pass, c.total)];
        for (status, word) in [
            (Status::Fail, "failed"),
            (Status::Error, "errored"),
            (Status::Waived, "waived"),
            (Status::Skip, "skipped"),
            (Status::Todo, "todo"),
        ] {
            let ids: Vec<&str> = self
                .checks
                .iter()
                .filter(|ch| ch.status == status)
                .map(|ch| ch.id.as_str())
                .collect();
            match ids.len() {
                0 => {}
                1..=4 => parts.push(format!("{} {word}", ids.join("/"))),
                n => parts.push(format!("{n} {word}")),
            }
        }
        if self.dropped > 0 {
            parts.push(format!(
                "{} more beyond the {MAX_CHECKS}-check table ({} failing)",
                self.dropped, self.dropped_fail
            ));
        }
        if !self.failed_seen.is_empty() && c.fail + c.error == 0 && self.dropped_fail == 0 {
            parts.push("a failing check was reported, then passed".into());
        }
        parts.join(", ")
    }
}

/// What the suite's output shows, for the verdict and the rules.
#[derive(Debug, Clone, Default)]
pub struct SuiteReport {
    pub table: CheckTable,
    /// Result lines seen (check lines, TAP points, JUnit testcases).
    pub results: u64,
    /// Any failing result at all, even one later reported as passing.
    pub failing: bool,
    /// Why the suite cannot be shown to have finished (TAP plan, JUnit report).
    pub incomplete: Option<String>,
    /// TAP `Bail out!`: the suite says it could not test.
    pub bailed: Option<String>,
    /// A JUnit `<error>` under `junit_errors: hold`.
    pub errored: bool,
    /// A line that looks like a failing check but does not parse.
    pub near_miss: Option<String>,
}

impl SuiteReport {
    pub fn evidence(&self) -> bool {
        self.results > 0
    }
    pub fn note_near_miss(&mut self, line: &[u8]) {
        if self.near_miss.is_none() {
            let mut s = String::from_utf8_lossy(line).trim().to_string();
            truncate_chars(&mut s, 200);
            self.near_miss = Some(s);
        }
    }
}

/// Reads the suite's stdout lines as they stream.
pub trait SuiteParser: Send {
    /// `shown` is the line as a terminal shows it; `overwritten` holds its
    /// carriage-return segments when it had any.
    fn line(&mut self, shown: &[u8], overwritten: &[Vec<u8>]);
    fn finish(&mut self) {}
    fn report(&self) -> &SuiteReport;
}

/// A parser that reads nothing (JUnit: the report is read after the run).
#[derive(Default)]
pub struct NoLines(SuiteReport);

impl SuiteParser for NoLines {
    fn line(&mut self, _: &[u8], _: &[Vec<u8>]) {}
    fn report(&self) -> &SuiteReport {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_counted_not_silent() {
        let mut t = CheckTable::default();
        for i in 0..1000 {
            let status = if i == 900 { Status::Fail } else { Status::Pass };
            t.record(format!("C{i}"), status, "x".into());
        }
        let c = t.counts();
        assert_eq!((c.total, c.dropped, c.dropped_fail), (500, 500, 1));
        assert!(
            t.summary()
                .contains("500 more beyond the 500-check table (1 failing)"),
            "{}",
            t.summary()
        );
    }

    #[test]
    fn a_fail_that_later_passes_is_remembered() {
        let mut t = CheckTable::default();
        t.record("C1".into(), Status::Fail, "first".into());
        t.record("C1".into(), Status::Pass, "retried".into());
        assert_eq!(t.counts().fail, 0);
        assert_eq!(t.failed_seen.len(), 1);
        assert!(t.summary().contains("a failing check was reported"));
    }
}
