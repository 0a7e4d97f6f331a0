//! The `git` binary, as the run already needs it for the push: `rev-parse`
//! and `show-ref` for where and what to read, one `git log --raw` for the
//! log versions, one `git cat-file --batch` for their contents. Each
//! process leads its own group, dies with stagerun, and is killed at the
//! caller's deadline or on a signal.

use crate::process::group;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The log file's name anywhere in the tree.
pub const PATHSPEC: &str = ":(glob)**/15-staging-log.md";

#[derive(Clone)]
pub struct Git {
    pub dir: PathBuf,
    pub deadline: Option<Instant>,
    /// Signals after this count end the read (a run being interrupted).
    pub signals_since: Option<usize>,
}

/// Why a read did not finish.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    TimedOut,
    Interrupted,
    Failed(String),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::TimedOut => f.write_str("the time limit (history_timeout) was reached"),
            Stop::Interrupted => f.write_str("interrupted by a signal"),
            Stop::Failed(why) => f.write_str(why),
        }
    }
}

/// A running git command: its stdout, and a watchdog that kills its group
/// at the deadline.
pub struct Proc {
    child: Child,
    what: String,
    done: Arc<AtomicBool>,
    stopped: Arc<std::sync::Mutex<Option<Stop>>>,
    pub stdout: Option<ChildStdout>,
    pub stdin: Option<ChildStdin>,
    /// Drained as it comes (a full stderr pipe would stall git), the first 64 KiB kept.
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Git {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("-C")
            .arg(&self.dir)
            .args([
                "--no-pager",
                "-c",
                "color.ui=never",
                "-c",
                "log.showSignature=false",
            ])
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .stderr(Stdio::piped());
        crate::process::own_group_dying_with_us(&mut cmd, libc::SIGKILL);
        cmd
    }

    /// Starts `git ARGS`; `input` (if any) is written to its stdin by a
    /// thread, `stdin_open` leaves stdin to the caller instead.
    pub fn spawn(
        &self,
        args: &[&str],
        input: Option<Vec<u8>>,
        stdin_open: bool,
    ) -> Result<Proc, Stop> {
        let what = format!("git {}", args.first().copied().unwrap_or(""));
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::piped());
        cmd.stdin(if input.is_some() || stdin_open {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd.spawn().map_err(|e| {
            Stop::Failed(format!("cannot run git: {}", crate::error::describe_io(&e)))
        })?;
        let stdout = child.stdout.take();
        let mut stdin = child.stdin.take();
        if let Some(data) = input
            && let Some(mut pipe) = stdin.take()
        {
            std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            });
        }
        let stderr = child.stderr.take().map(|mut e| {
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                let mut chunk = [0u8; 8192];
                while let Ok(n) = e.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    let room = (64 * 1024usize).saturating_sub(kept.len());
                    kept.extend_from_slice(&chunk[..n.min(room)]);
                }
                kept
            })
        });
        let done = Arc::new(AtomicBool::new(false));
        let stopped = Arc::new(std::sync::Mutex::new(None));
        self.watch(child.id() as i32, done.clone(), stopped.clone());
        Ok(Proc {
            child,
            what,
            done,
            stopped,
            stdout,
            stdin,
            stderr,
        })
    }

    fn watch(
        &self,
        pgid: i32,
        done: Arc<AtomicBool>,
        stopped: Arc<std::sync::Mutex<Option<Stop>>>,
    ) {
        let (deadline, since) = (self.deadline, self.signals_since);
        if deadline.is_none() && since.is_none() {
            return;
        }
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let why = if since.is_some_and(|n| crate::signals::count() > n) {
                    Some(Stop::Interrupted)
                } else if deadline.is_some_and(|d| Instant::now() >= d) {
                    Some(Stop::TimedOut)
                } else {
                    None
                };
                if let Some(why) = why {
                    *stopped.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
                    group::signal(pgid, libc::SIGKILL);
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
    }

    /// `git ARGS` to the end: its stdout, or why not.
    pub fn output(&self, args: &[&str], input: Option<Vec<u8>>) -> Result<Vec<u8>, Stop> {
        let mut p = self.spawn(args, input, false)?;
        let mut out = Vec::new();
        if let Some(mut s) = p.stdout.take() {
            let _ = s.read_to_end(&mut out);
        }
        p.finish()?;
        Ok(out)
    }
}

impl Proc {
    /// Waits for the command; Err if it was stopped or failed.
    pub fn finish(mut self) -> Result<(), Stop> {
        self.stdin.take();
        self.stdout.take();
        let err = self
            .stderr
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        let status = self.child.wait();
        self.done.store(true, Ordering::Relaxed);
        if let Some(why) = self
            .stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Err(why);
        }
        match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => {
                let text = String::from_utf8_lossy(&err);
                let line = text
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or("")
                    .to_string();
                Err(Stop::Failed(format!(
                    "{} failed ({s}){}",
                    self.what,
                    if line.is_empty() {
                        String::new()
                    } else {
                        format!(": {line}")
                    }
                )))
            }
            Err(e) => Err(Stop::Failed(format!("{}: {e}", self.what))),
        }
    }

    /// What stopped it early, if something did.
    pub fn stopped(&self) -> Option<Stop> {
        self.stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.done.load(Ordering::Relaxed) {
            group::signal(self.child.id() as i32, libc::SIGKILL);
            let _ = self.child.wait();
            self.done.store(true, Ordering::Relaxed);
        }
    }
}

/// Where a repository keeps its objects and, unless bare, its work tree.
#[derive(Debug, Clone)]
pub struct Repo {
    /// The work tree's top folder, or the git folder of a bare repository.
    pub top: PathBuf,
    pub work_tree: bool,
    /// Shared by every worktree: the cache lives here.
    pub common_dir: PathBuf,
    /// The commit checked out (a detached HEAD in CI is on no branch).
    pub head: Option<String>,
}

fn is_oid(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The repository holding `path`; Ok(None) outside of one. One process:
/// rev-parse prints what it can before an unborn HEAD makes it fail.
pub fn discover(path: &Path, git: &Git) -> Result<Option<Repo>, Stop> {
    let g = Git {
        dir: path.to_path_buf(),
        ..git.clone()
    };
    let mut p = g.spawn(
        &[
            "rev-parse",
            "--git-common-dir",
            "--is-bare-repository",
            "--show-cdup",
            "HEAD^{commit}",
        ],
        None,
        false,
    )?;
    let mut out = Vec::new();
    if let Some(mut s) = p.stdout.take() {
        let _ = s.read_to_end(&mut out);
    }
    let result = p.finish();
    let text = String::from_utf8_lossy(&out);
    let lines: Vec<&str> = text.split('\n').collect();
    let (Some(common), Some(bare), Some(cdup)) = (lines.first(), lines.get(1), lines.get(2)) else {
        return match result {
            Err(Stop::Failed(why)) if why.contains("not a git repository") => Ok(None),
            Err(e) => Err(e),
            Ok(()) => Ok(None),
        };
    };
    if common.is_empty() {
        return Ok(None);
    }
    let absolute = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
    let common_dir = absolute(path.join(common));
    let head = lines.get(3).filter(|h| is_oid(h)).map(|h| h.to_string());
    Ok(Some(if *bare == "true" {
        Repo {
            top: common_dir.clone(),
            work_tree: false,
            common_dir,
            head,
        }
    } else {
        Repo {
            top: absolute(path.join(cdup)),
            work_tree: true,
            common_dir,
            head,
        }
    }))
}

/// The commits history reads from: local branches, remote-tracking
/// branches, tags and HEAD, sorted and without repeats. Object types are
/// not asked for (that reads every object: 20 ms for 1,000 branches); git
/// log peels a tag itself and passes over a tag of a tree.
pub fn tips(git: &Git, head: Option<&str>) -> Result<Vec<String>, Stop> {
    let out = git.output(
        &[
            "for-each-ref",
            "--format=%(objectname)",
            "refs/heads",
            "refs/remotes",
            "refs/tags",
        ],
        None,
    )?;
    let text = String::from_utf8_lossy(&out);
    let mut tips: Vec<String> = text
        .lines()
        .filter(|l| is_oid(l))
        .map(str::to_string)
        .chain(head.map(str::to_string))
        .collect();
    tips.sort();
    tips.dedup();
    Ok(tips)
}

/// Whether some commit reachable from `old` is no longer reachable from
/// `new` (a branch deleted or rewritten): then what was read from it must
/// be forgotten.
pub fn lost_commits(git: &Git, old: &[String], new: &[String]) -> Result<bool, Stop> {
    let mut input = String::new();
    for t in old {
        input.push_str(t);
        input.push('\n');
    }
    input.push_str("--not\n");
    for t in new {
        input.push_str(t);
        input.push('\n');
    }
    // A tag may point at a tree or a blob: only commits matter here.
    match git.output(
        &["rev-list", "--ignore-missing", "--max-count=1", "--stdin"],
        Some(input.into_bytes()),
    ) {
        Ok(out) => Ok(!out.iter().all(u8::is_ascii_whitespace)),
        Err(Stop::Failed(_)) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Staging logs in the work tree that differ from HEAD (modified, staged,
/// untracked): paths relative to the top.
pub fn work_tree_logs(git: &Git) -> Result<Vec<PathBuf>, Stop> {
    let out = git.output(
        &[
            "status",
            "--porcelain",
            "-z",
            "--untracked-files=all",
            "--no-renames",
            "--",
            PATHSPEC,
        ],
        None,
    )?;
    let mut paths = Vec::new();
    for entry in out.split(|b| *b == 0) {
        if entry.len() < 4 {
            continue;
        }
        let (xy, path) = entry.split_at(3);
        if xy.contains(&b'D') {
            continue;
        }
        use std::os::unix::ffi::OsStrExt;
        paths.push(PathBuf::from(std::ffi::OsStr::from_bytes(path)));
    }
    Ok(paths)
}
