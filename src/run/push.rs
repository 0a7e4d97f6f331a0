//! Best-effort commit and push of the log to the work item's branch. Never
//! interactive, bounded in time (a hook that detaches cannot hold it),
//! ended early by a signal; a failure is reported and never changes the
//! verdict or the exit code. The user's own git ssh settings win.

use crate::model::StepStatus;
use crate::process::helper::Helper;
use crate::report::StepOutcome;
use std::path::Path;
use std::time::{Duration, Instant};

pub struct Request<'a> {
    pub log_path: &'a Path,
    pub message: &'a str,
    pub remote: &'a str,
    pub branch: Option<&'a str>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub signals_since: usize,
}

fn outcome(status: StepStatus, detail: impl Into<String>) -> StepOutcome {
    StepOutcome {
        status,
        detail: detail.into(),
    }
}

struct Git<'a> {
    dir: &'a Path,
    deadline: Instant,
    env: Vec<(String, String)>,
    signals_since: usize,
}

impl Git<'_> {
    /// Ok(stdout) or Err(the meaningful lines of git's stderr).
    fn run(&self, args: &[&str]) -> Result<String, String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        let verb = verb(args);
        if left.is_zero() {
            return Err(format!("git {verb}: push_timeout reached"));
        }
        let mut argv = vec!["git".to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        let mut h = Helper::new(argv, left);
        h.dir = Some(self.dir.to_path_buf());
        h.env = self.env.clone();
        h.signals_since = Some(self.signals_since);
        let out = h.run();
        if out.success() {
            return Ok(out.stdout_text().trim().to_string());
        }
        let lines: Vec<String> = out
            .stderr_text()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("hint:"))
            .map(str::to_string)
            .collect();
        let shown = lines
            .iter()
            .rev()
            .take(4)
            .rev()
            .cloned()
            .collect::<Vec<_>>()
            .join(" / ");
        Err(format!(
            "{}{}",
            out.failure(&format!("git {verb}")),
            if shown.is_empty() {
                String::new()
            } else {
                format!(": {shown}")
            }
        ))
    }
}

fn verb<'a>(args: &[&'a str]) -> &'a str {
    let mut i = 0;
    while i < args.len() && args[i] == "-c" {
        i += 2;
    }
    args.get(i).copied().unwrap_or("")
}

/// CI systems check out a detached HEAD; they say which branch it is.
fn ci_branch() -> Option<String> {
    ["CI_COMMIT_REF_NAME", "GITHUB_HEAD_REF", "GITHUB_REF_NAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty() && !v.starts_with('-') && !v.contains(".."))
}

pub fn push(req: &Request) -> StepOutcome {
    let dir = req.log_path.parent().unwrap_or(Path::new("."));
    let file = req
        .log_path
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or("15-staging-log.md");
    let mut git = Git {
        dir,
        deadline: Instant::now() + req.timeout,
        env: vec![
            ("GIT_TERMINAL_PROMPT".into(), "0".into()),
            ("GIT_ASKPASS".into(), "true".into()),
            ("SSH_ASKPASS".into(), "true".into()),
        ],
        signals_since: req.signals_since,
    };
    if let Err(e) = git.run(&["rev-parse", "--is-inside-work-tree"]) {
        // git's own words only when they say more than "not a repository".
        let why = if e.contains("not a git repository") {
            String::new()
        } else {
            format!(" ({e})")
        };
        return outcome(
            StepStatus::Skipped,
            format!(
                "the work item folder {} is not in a git work tree{why}",
                dir.display()
            ),
        );
    }
    // Only when the user set no ssh command of their own (a deploy key, a
    // known_hosts file): add ours, which never prompts.
    let user_ssh = std::env::var_os("GIT_SSH_COMMAND").is_some_and(|v| !v.is_empty())
        || std::env::var_os("GIT_SSH").is_some_and(|v| !v.is_empty())
        || git
            .run(&["config", "--get", "core.sshCommand"])
            .is_ok_and(|v| !v.is_empty());
    if !user_ssh {
        git.env.push((
            "GIT_SSH_COMMAND".into(),
            format!(
                "ssh -o BatchMode=yes -o ConnectTimeout={}",
                req.connect_timeout.as_secs().max(1)
            ),
        ));
    }
    let branch = match branch(req, &git) {
        Ok(b) => b,
        Err(failed) => return failed,
    };
    if let Err(e) = commit(req, &git, file) {
        return outcome(StepStatus::Failed, e);
    }
    let mut pushed = push_branch(req, &git, &branch);
    if pushed.status == StepStatus::Failed {
        // The commit is made: say where it is, and what decides the push.
        pushed.detail.push_str(&format!(
            "; the log stays committed locally on {branch} (`push_remote` names the remote, `push: false` turns the push off)"
        ));
    }
    pushed
}

/// push_branch, else the checked-out branch, else the one CI names.
fn branch(req: &Request, git: &Git) -> Result<String, StepOutcome> {
    Ok(match req.branch {
        // A full ref names the branch: pushed as HEAD:refs/heads/refs/heads/X
        // it would make a new branch of that name.
        Some(b) => b.strip_prefix("refs/heads/").unwrap_or(b).to_string(),
        None => match git.run(&["symbolic-ref", "--short", "-q", "HEAD"]) {
            Ok(b) if !b.is_empty() => b,
            _ => match ci_branch() {
                Some(b) => b,
                None => {
                    return Err(outcome(
                        StepStatus::Failed,
                        "HEAD is detached and neither push_branch nor a CI branch variable (CI_COMMIT_REF_NAME, GITHUB_HEAD_REF, GITHUB_REF_NAME) is set",
                    ));
                }
            },
        },
    })
}

fn commit(req: &Request, git: &Git, file: &str) -> Result<(), String> {
    git.run(&["add", "--", file])?;
    // The user's own identity wins; a fallback keeps a fresh CI clone working.
    let mut commit: Vec<&str> = Vec::new();
    if git.run(&["config", "user.email"]).is_err() {
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
    git.run(&commit).map(|_| ())
}

fn push_branch(req: &Request, git: &Git, branch: &str) -> StepOutcome {
    let refspec = format!("HEAD:refs/heads/{branch}");
    match git.run(&["push", "--quiet", "--", req.remote, &refspec]) {
        Ok(_) => outcome(StepStatus::Pushed, format!("{} {branch}", req.remote)),
        Err(e)
            if e.contains("non-fast-forward")
                || e.contains("fetch first")
                || e.contains("rejected") =>
        {
            // Someone pushed meanwhile: put our one log commit on top, once.
            let rebased = git
                .run(&["fetch", "--quiet", "--", req.remote, branch])
                .and_then(|_| git.run(&["rebase", "--quiet", "--autostash", "FETCH_HEAD"]))
                .and_then(|_| git.run(&["push", "--quiet", "--", req.remote, &refspec]));
            match rebased {
                Ok(_) => outcome(
                    StepStatus::Pushed,
                    format!("{} {branch} (rebased onto the remote once)", req.remote),
                ),
                Err(e2) => {
                    let _ = git.run(&["rebase", "--abort"]);
                    outcome(
                        StepStatus::Failed,
                        format!("{e}; rebasing once did not help: {e2}"),
                    )
                }
            }
        }
        Err(e) => outcome(StepStatus::Failed, e),
    }
}
