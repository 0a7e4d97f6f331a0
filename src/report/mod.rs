//! One result model, many outputs (as nextest's reporter): `RunReport` is
//! built once from the run and every sink reads it — the staging log, the
//! JSON object, JUnit, GitHub, GitLab, the terminal line. A new output is
//! one file implementing `Sink`, chosen in `reporter.rs` (the one place).

pub mod escape;
pub mod github;
pub mod gitlab;
pub mod json;
pub mod junit;
mod reporter;
pub mod staging_log;
pub mod terminal;

pub use reporter::Reporter;

// The result model lives in `model`; its old home keeps the names.
pub use crate::model::{
    AdoptedRun, AttemptRecord, LogState, RESULT_SCHEMA, ReattachRecord, ResultWord, RunDetails,
    RunReport, StepOutcome, staging_log_schema,
};

/// An output fed from the report.
pub trait Sink {
    fn name(&self) -> &'static str;
    /// Err is a one-line reason; a sink never changes the verdict.
    fn emit(&self, report: &RunReport) -> Result<(), String>;
}
