//! The suite's own report (junit), read once the attempt is over: here, or
//! back through the channel; bounded in size either way.

use super::plan::Plan;
use crate::process::helper::Helper;
use crate::suite::{self, SuiteReport};
use crate::transport::session::Session;
use std::time::Duration;

/// junit: the suite's report, read back through the same channel.
pub fn read(plan: &Plan, session: Option<&mut Session>) -> SuiteReport {
    let Some(path) = plan.report_path() else {
        return SuiteReport::default();
    };
    let errors_fail = plan.settings.junit_errors == crate::config::JunitErrors::Failed;
    let bytes = if plan.transport.wrapped() {
        let control = match session {
            Some(s) => s.alive().then(|| s.control.clone()),
            None => None,
        };
        let cmd = vec![
            "sh".to_string(),
            "-c".into(),
            r#"[ -f "$1" ] || { echo "no report at $1" >&2; exit 3; }; s=$(wc -c < "$1"); [ "$s" -le "$2" ] || { echo "report is $s bytes, over $2" >&2; exit 4; }; cat "$1""#.into(),
            "stagerun-report".into(),
            path.to_string(),
            REPORT_MAX.to_string(),
        ];
        let argv = match plan.transport.argv(cmd, control.as_deref()) {
            Ok(a) => a,
            Err(e) => return incomplete(format!("cannot read the report: {e}")),
        };
        let mut h = Helper::new(
            argv,
            plan.settings.connect_timeout.0 + Duration::from_secs(30),
        );
        h.capture = REPORT_MAX + 1;
        let out = h.run();
        if !out.success() {
            let why = out
                .stderr_text()
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .to_string();
            return incomplete(format!(
                "the suite's report {path} could not be read: {why}"
            ));
        }
        out.stdout
    } else {
        match read_bounded(std::path::Path::new(path)) {
            Ok(b) => b,
            Err(why) => {
                return incomplete(format!(
                    "the suite's report {path} could not be read: {why}"
                ));
            }
        }
    };
    suite::junit::parse_report(&bytes, errors_fail, REPORT_MAX)
}

const REPORT_MAX: usize = 32 << 20;

fn incomplete(why: String) -> SuiteReport {
    SuiteReport {
        incomplete: Some(why),
        ..SuiteReport::default()
    }
}

fn read_bounded(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| crate::error::describe_io(&e))?;
    let meta = f.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mut buf = Vec::new();
    f.take(REPORT_MAX as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| crate::error::describe_io(&e))?;
    Ok(buf)
}
