//! The alert hook: a shell command run on HOLD so a person looks. Bounded in
//! time, ended early by a signal; its failure never changes the verdict.

use crate::model::StepStatus;
use crate::process::helper::Helper;
use crate::report::{RunReport, StepOutcome};
use std::time::Duration;

const ALERT_TIMEOUT: Duration = Duration::from_secs(30);

pub fn run(command: &str, r: &RunReport, signals_since: usize) -> StepOutcome {
    let d = r.run.as_ref();
    let get = |f: fn(&crate::report::RunDetails) -> String| d.map(f).unwrap_or_default();
    let mut h = Helper::new(
        vec!["sh".into(), "-c".into(), command.into()],
        ALERT_TIMEOUT,
    );
    h.signals_since = Some(signals_since);
    h.env = vec![
        ("STAGERUN_VERDICT".into(), r.verdict.as_str().into()),
        ("STAGERUN_EXIT_CODE".into(), r.exit_code.to_string()),
        ("STAGERUN_WORK_ITEM".into(), get(|d| d.work_item.clone())),
        ("STAGERUN_REPO".into(), get(|d| d.repo.clone())),
        ("STAGERUN_CLASS".into(), get(|d| d.outcome.as_str().into())),
        ("STAGERUN_RULE".into(), get(|d| d.rule.clone())),
        ("STAGERUN_REASON".into(), r.reason.clone()),
        ("STAGERUN_LOG".into(), get(|d| d.log_path.clone())),
    ];
    let out = h.run();
    if out.success() {
        StepOutcome {
            status: StepStatus::Ran,
            detail: "alert hook exited 0".into(),
        }
    } else {
        let msg = out.failure("alert hook");
        crate::warn!("{msg} (verdict unchanged)");
        StepOutcome {
            status: StepStatus::Failed,
            detail: msg,
        }
    }
}
