//! Best-effort commit and push of the log to the work item's branch. Never
//! interactive, bounded in time; a failure is reported and never changes the
//! verdict or the exit code.

use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize)]
pub struct PushResult {
    /// pushed, skipped, failed
    pub status: &'static str,
    pub detail: String,
}

impl PushResult {
    fn skipped(detail: impl Into<String>) -> Self {
        PushResult {
            status: "skipped",
            detail: detail.into(),
        }
    }
    fn failed(detail: impl Into<String>) -> Self {
        PushResult {
            status: "failed",
            detail: detail.into(),
        }
    }
}

pub struct PushRequest<'a> {
    pub log_path: &'a Path,
    pub message: &'a str,
    pub remote: &'a str,
    pub branch: Option<&'a str>,
    pub timeout: Duration,
}

/// Runs git in `dir` with a share of the overall deadline; Err holds a
/// one-line reason.
fn git(dir: &Path, args: &[&str], deadline: Instant) -> Result<String, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err("timed out".into());
    }
    let expr = duct::cmd("git", args)
        .dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .env("SSH_ASKPASS", "true")
        .env(
            "GIT_SSH_COMMAND",
            "ssh -o BatchMode=yes -o ConnectTimeout=10",
        )
        .stdin_null()
        .stdout_capture()
        .stderr_capture();
    match crate::supervise::run_bounded(expr, left) {
        Ok(Some(out)) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        }
        Ok(Some(out)) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let line = err
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty() && !l.starts_with("hint:"))
                .unwrap_or("")
                .to_string();
            Err(format!(
                "git {} failed ({}): {line}",
                git_verb(args),
                out.status
            ))
        }
        Ok(None) => Err(format!("git {} timed out", git_verb(args))),
        Err(e) => Err(format!("cannot run git {}: {e}", git_verb(args))),
    }
}

pub fn push(req: &PushRequest) -> PushResult {
    let deadline = Instant::now() + req.timeout;
    let dir = req.log_path.parent().unwrap_or(Path::new("."));
    let file = req
        .log_path
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or("15-staging-log.md");
    if let Err(e) = git(dir, &["rev-parse", "--is-inside-work-tree"], deadline) {
        return PushResult::skipped(format!("not in a git work tree ({e})"));
    }
    let branch = match req.branch {
        Some(b) => b.to_string(),
        None => match git(dir, &["symbolic-ref", "--short", "-q", "HEAD"], deadline) {
            Ok(b) if !b.is_empty() => b,
            _ => return PushResult::failed("HEAD is detached and no push_branch is configured"),
        },
    };
    if let Err(e) = git(dir, &["add", "--", file], deadline) {
        return PushResult::failed(e);
    }
    // The user's own identity wins; a fallback keeps a fresh CI clone working.
    let mut commit: Vec<&str> = Vec::new();
    if git(dir, &["config", "user.email"], deadline).is_err() {
        commit.extend([
            "-c",
            "user.name=stagerun",
            "-c",
            "user.email=stagerun@localhost",
        ]);
    }
    // --only: commit the log alone, whatever else is staged.
    commit.extend([
        "commit",
        "--no-verify",
        "--quiet",
        "-m",
        req.message,
        "--only",
        "--",
        file,
    ]);
    if let Err(e) = git(dir, &commit, deadline) {
        return PushResult::failed(e);
    }
    let refspec = format!("HEAD:refs/heads/{branch}");
    match git(dir, &["push", "--quiet", req.remote, &refspec], deadline) {
        Ok(_) => PushResult {
            status: "pushed",
            detail: format!("{} {branch}", req.remote),
        },
        Err(e) => PushResult::failed(e),
    }
}

fn git_verb<'a>(args: &[&'a str]) -> &'a str {
    let mut i = 0;
    while i < args.len() && args[i] == "-c" {
        i += 2;
    }
    args.get(i).copied().unwrap_or("")
}
