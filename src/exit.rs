//! The exit-code contract the pipeline gates on (docs/contract.md, "Exit codes").

pub const SUCCESS: u8 = 0;
pub const FAILED: u8 = 1;
pub const USAGE: u8 = 2;
pub const SKIPPED: u8 = 3;
pub const INTERNAL: u8 = 70;
pub const HOLD: u8 = 75;
pub const CONFIG: u8 = 78;

words! {
    /// The machine verdict written as `staging_status:`.
    pub enum Verdict {
        Success = "SUCCESS",
        Failed = "FAILED",
        Hold = "HOLD",
    }
}

impl Verdict {
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Success => SUCCESS,
            Verdict::Failed => FAILED,
            Verdict::Hold => HOLD,
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        [Verdict::Success, Verdict::Failed, Verdict::Hold]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}
