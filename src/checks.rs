//! The suite's own answer: `<ID> <STATUS> <detail>` lines on stdout.

use regex::bytes::Regex;
use serde::Serialize;

/// A flood of distinct ids must not grow memory without bound.
const MAX_CHECKS: usize = 500;
const MAX_DETAIL: usize = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Fail,
    Waived,
    Skip,
}

impl Status {
    fn parse(s: &[u8]) -> Option<Status> {
        match s {
            b"PASS" => Some(Status::Pass),
            b"FAIL" => Some(Status::Fail),
            b"WAIVED" => Some(Status::Waived),
            b"SKIP" => Some(Status::Skip),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Waived => "WAIVED",
            Status::Skip => "SKIP",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: String,
    pub status: Status,
    pub detail: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub waived: usize,
    pub skip: usize,
}

#[derive(Debug, Clone, Default)]
pub struct CheckTable {
    pub checks: Vec<Check>,
    /// Any FAIL line at all, even one later reported again as PASS: fail closed.
    pub fail_seen: bool,
    pub lines_seen: u64,
    pub dropped: u64,
}

impl CheckTable {
    /// Records the line if it is a check line; the last status of an id wins
    /// for the table, but `fail_seen` never resets.
    pub fn observe(&mut self, pattern: &Regex, line: &[u8]) -> bool {
        let Some(caps) = pattern.captures(line) else {
            return false;
        };
        let (Some(id), Some(status)) = (caps.name("id"), caps.name("status")) else {
            return false;
        };
        let Some(status) = Status::parse(status.as_bytes()) else {
            return false;
        };
        self.lines_seen += 1;
        if status == Status::Fail {
            self.fail_seen = true;
        }
        let id = String::from_utf8_lossy(id.as_bytes()).into_owned();
        let mut detail = caps
            .name("detail")
            .map(|d| String::from_utf8_lossy(d.as_bytes()).trim().to_string())
            .unwrap_or_default();
        truncate_chars(&mut detail, MAX_DETAIL);
        if let Some(existing) = self.checks.iter_mut().find(|c| c.id == id) {
            existing.status = status;
            existing.detail = detail;
        } else if self.checks.len() < MAX_CHECKS {
            self.checks.push(Check { id, status, detail });
        } else {
            self.dropped += 1;
        }
        true
    }

    pub fn evidence(&self) -> bool {
        self.lines_seen > 0
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            total: self.checks.len(),
            ..Counts::default()
        };
        for check in &self.checks {
            match check.status {
                Status::Pass => c.pass += 1,
                Status::Fail => c.fail += 1,
                Status::Waived => c.waived += 1,
                Status::Skip => c.skip += 1,
            }
        }
        c
    }

    /// `8/10 PASS, C9a/C9b waived`.
    pub fn summary(&self) -> String {
        if self.checks.is_empty() {
            return "no check lines".into();
        }
        let c = self.counts();
        let mut parts = vec![format!("{}/{} PASS", c.pass, c.total)];
        for (status, word) in [
            (Status::Fail, "failed"),
            (Status::Waived, "waived"),
            (Status::Skip, "skipped"),
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
        if self.fail_seen && c.fail == 0 {
            parts.push("a FAIL line was reported".into());
        }
        parts.join(", ")
    }
}

pub fn truncate_chars(s: &mut String, max: usize) {
    if let Some((idx, _)) = s.char_indices().nth(max) {
        s.truncate(idx);
        s.push('…');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_CHECK_LINE_PATTERN;

    fn table(lines: &[&str]) -> CheckTable {
        let re = Regex::new(DEFAULT_CHECK_LINE_PATTERN).unwrap();
        let mut t = CheckTable::default();
        for l in lines {
            t.observe(&re, l.as_bytes());
        }
        t
    }

    #[test]
    fn summary_like_the_pipeline_writes_it() {
        let mut lines: Vec<String> = (1..=8).map(|i| format!("C{i} PASS ok")).collect();
        lines.push("C9a WAIVED known flake".into());
        lines.push("C9b WAIVED known flake".into());
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let t = table(&refs);
        assert_eq!(t.summary(), "8/10 PASS, C9a/C9b waived");
        assert!(!t.fail_seen);
    }

    #[test]
    fn not_check_lines() {
        let t = table(&[
            "C1PASS x",
            "X1 PASS",
            "C1 PASSED",
            "c1 PASS",
            "  C1 PASS indented",
            "C1 OK",
        ]);
        assert!(!t.evidence(), "{:?}", t.checks);
    }

    #[test]
    fn fail_is_sticky() {
        let t = table(&["C1 FAIL first", "C1 PASS retried"]);
        assert!(t.fail_seen);
        assert_eq!(t.counts().fail, 0);
        assert!(t.summary().contains("a FAIL line was reported"));
    }
}
