//! `stagerun gate`: reads the verdict back, as the pipeline's own gate
//! does. Anything it cannot read as a verdict is HOLD (75): a run in
//! progress, a verdict the last run could not record, a missing, malformed,
//! oversized, non-regular or newer-schema log.

use crate::cli::GateArgs;
use crate::error::{Error, Result};
use crate::report::staging_log;
use crate::report::{Reporter, RunReport};
use crate::workitem::LOG_FILE;
use std::time::{Duration, Instant};

fn wait_for_run(dir: &std::path::Path, limit: Duration) -> bool {
    let since = crate::signals::count();
    let until = Instant::now() + limit;
    while crate::lock::held(dir) {
        if Instant::now() >= until || crate::signals::count() > since {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

fn verdict(args: &GateArgs) -> Result<(crate::exit::Verdict, String)> {
    let dir = &args.work_item_dir;
    crate::workitem::folder(dir)?;
    let path = dir.join(LOG_FILE);
    if crate::lock::held(dir) {
        let _ = crate::signals::install();
        let done = args.wait.is_some_and(|limit| wait_for_run(dir, limit));
        if !done {
            return Err(Error::Hold(format!(
                "work item `{}` is busy: run in progress, its verdict not recorded yet (`gate --wait` waits for it)",
                dir.display()
            )));
        }
    }
    let marker = staging_log::unrecorded_marker(&path);
    if marker.exists() {
        let why = std::fs::read_to_string(&marker).unwrap_or_default();
        let why = why.lines().next().unwrap_or("").trim();
        let why = if why.is_empty() {
            String::new()
        } else {
            format!(" ({why})")
        };
        return Err(Error::Hold(format!(
            "gate: the last run could not record its verdict{why}; {} is not current",
            path.display()
        )));
    }
    match staging_log::read_verdict(&path) {
        Ok(v) => Ok((v, path.display().to_string())),
        Err(why) => Err(Error::Hold(format!(
            "gate: no verdict in {}: {why}",
            path.display()
        ))),
    }
}

/// The verdict read back, or why there is none, through gate's outputs.
pub fn gate(args: &GateArgs) -> u8 {
    let report = match verdict(args) {
        Ok((v, path)) => {
            let mut r = RunReport::from_error(&Error::Hold(String::new()));
            r.verdict = v.into();
            r.exit_code = v.exit_code();
            r.reason = format!("staging_status {v} in {path}");
            r.error = None;
            r.log_file = Some(path);
            r
        }
        Err(e) => {
            let mut r = RunReport::from_error(&e);
            r.log_file = Some(args.work_item_dir.join(LOG_FILE).display().to_string());
            r
        }
    };
    Reporter::for_gate(args.json).emit(&report)
}
