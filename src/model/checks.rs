//! A check as the suite reported it, and what its history says.

use serde::Serialize;

words! {
    pub enum Status {
        Pass = "PASS",
        Fail = "FAIL",
        /// A JUnit `<error>` when `junit_errors: hold`.
        Error = "ERROR",
        Waived = "WAIVED",
        Skip = "SKIP",
        /// A TAP `not ok … # TODO`: expected to fail, not a failure.
        Todo = "TODO",
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Check {
    pub id: String,
    pub status: Status,
    pub detail: String,
    /// A failing check of a FAILED run: what its history says (never the verdict).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<super::CheckNote>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct Counts {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub error: usize,
    pub waived: usize,
    pub skip: usize,
    pub todo: usize,
    /// Checks beyond the table's limit of 500: counted here, not listed.
    pub dropped: u64,
    /// How many of the dropped ones failed.
    pub dropped_fail: u64,
}

/// What a failing check's history says, in the log, JSON, JUnit, CI.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CheckNote {
    /// With this run counted.
    pub label: Label,
    pub runs: u32,
    pub fail: u32,
    pub flips: u32,
    pub flip_rate: f64,
    /// The failure before this one.
    pub previous_fail: Option<RunRef>,
    pub text: String,
}

words! {
    /// A check's history in one word (docs/history.md); ordered worst first.
    #[derive(PartialOrd, Ord)]
    pub enum Label {
        Broken = "broken",
        Flaky = "flaky",
        Stable = "stable",
    }
}

/// A run, as history names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RunRef {
    pub work_item: String,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
}
