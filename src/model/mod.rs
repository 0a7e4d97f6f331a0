//! The result model at the bottom: the words a run's result is told in
//! (verdict, outcome, class, check status, …) and `RunReport`, the one
//! record every output reads (as nextest's reporter events). It imports
//! nothing of the runner: only `exit` and `error`, which are below it.

mod checks;
mod outcome;
mod report;
mod steps;

pub use checks::*;
pub use outcome::*;
pub use report::*;
pub use steps::*;
