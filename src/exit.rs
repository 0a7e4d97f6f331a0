//! The exit-code contract the pipeline gates on (docs/contract.md, "Exit codes").

use std::fmt;

pub const SUCCESS: u8 = 0;
pub const FAILED: u8 = 1;
pub const USAGE: u8 = 2;
pub const SKIPPED: u8 = 3;
pub const INTERNAL: u8 = 70;
pub const HOLD: u8 = 75;
pub const CONFIG: u8 = 78;

/// The machine verdict written as `staging_status:`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Success,
    Failed,
    Hold,
}

impl Verdict {
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Success => SUCCESS,
            Verdict::Failed => FAILED,
            Verdict::Hold => HOLD,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Success => "SUCCESS",
            Verdict::Failed => "FAILED",
            Verdict::Hold => "HOLD",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        match s {
            "SUCCESS" => Some(Verdict::Success),
            "FAILED" => Some(Verdict::Failed),
            "HOLD" => Some(Verdict::Hold),
            _ => None,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
