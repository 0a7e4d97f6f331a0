//! The alert hook: a shell command run on HOLD so a person looks. Its
//! failure is reported and never changes the verdict.

use std::time::Duration;

pub struct AlertContext<'a> {
    pub verdict: &'a str,
    pub work_item: &'a str,
    pub repo: &'a str,
    pub class: &'a str,
    pub rule: &'a str,
    pub reason: &'a str,
    pub log_path: &'a str,
}

const ALERT_TIMEOUT: Duration = Duration::from_secs(30);

/// Ok(()) when the hook ran and exited 0; Err(message) otherwise.
pub fn run(command: &str, ctx: &AlertContext) -> Result<(), String> {
    let expr = duct::cmd("sh", ["-c", command])
        .env("STAGERUN_VERDICT", ctx.verdict)
        .env("STAGERUN_WORK_ITEM", ctx.work_item)
        .env("STAGERUN_REPO", ctx.repo)
        .env("STAGERUN_CLASS", ctx.class)
        .env("STAGERUN_RULE", ctx.rule)
        .env("STAGERUN_REASON", ctx.reason)
        .env("STAGERUN_LOG", ctx.log_path)
        .stdin_null()
        .stdout_to_stderr();
    match crate::supervise::run_bounded(expr, ALERT_TIMEOUT) {
        Ok(Some(out)) if out.status.success() => Ok(()),
        Ok(Some(out)) => Err(format!("alert hook exited with {}", out.status)),
        Ok(None) => Err(format!(
            "alert hook timed out after {}s",
            ALERT_TIMEOUT.as_secs()
        )),
        Err(e) => Err(format!("alert hook could not start: {e}")),
    }
}
