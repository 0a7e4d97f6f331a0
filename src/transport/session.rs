//! The ssh master connection: one handshake serves every command of an
//! invocation (attempts, remote stops, preflight). It runs in the
//! foreground as our child and dies with us (PR_SET_PDEATHSIG), so even a
//! SIGKILLed stagerun leaves no authenticated connection behind; its stderr
//! is kept and read as evidence when the channel fails. With
//! `connection_persist`, a master is shared across invocations instead
//! (see `persist`).

use super::ssh::Ssh;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Session {
    _dir: Option<tempfile::TempDir>,
    pub control: PathBuf,
    child: Option<Child>,
    log: Option<PathBuf>,
    log_read: u64,
}

/// How often the master is looked at while it opens and while it goes: the
/// wait is on the run's path, so it is short; a stat or a waitpid is cheap.
const MASTER_POLL: Duration = Duration::from_millis(1);

/// Why no master could be opened: what ssh said, for the rules.
#[derive(Debug, Default)]
pub struct OpenFailure {
    pub stderr: String,
    pub code: Option<i32>,
    pub timed_out: bool,
    pub interrupted: bool,
}

/// A short private folder for the control socket: a unix socket path must
/// fit in 108 bytes, so a long TMPDIR falls back to /tmp instead of
/// silently losing the master.
pub fn private_dir(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    let candidates = [
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
        Some(std::env::temp_dir()),
        Some(PathBuf::from("/tmp")),
    ];
    let mut last = None;
    for base in candidates.into_iter().flatten() {
        if base.as_os_str().len() > 60 || !base.is_dir() {
            continue;
        }
        // tempdir() creates the folder 0700.
        match tempfile::Builder::new().prefix(prefix).tempdir_in(&base) {
            Ok(d) => return Ok(d),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no short writable temp folder")))
}

impl Session {
    pub fn open(ssh: &Ssh, signals_since: usize) -> Result<Session, OpenFailure> {
        let fail = |stderr: String| OpenFailure {
            stderr,
            ..OpenFailure::default()
        };
        let dir = private_dir("stagerun-ssh-")
            .map_err(|e| fail(format!("stagerun: cannot create a control folder: {e}")))?;
        let control = dir.path().join("cm");
        let log = dir.path().join("master.log");
        let log_file = std::fs::File::create(&log)
            .map_err(|e| fail(format!("stagerun: cannot create {}: {e}", log.display())))?;
        let argv = ssh.base(&[
            "-M".into(),
            "-N".into(),
            "-o".into(),
            "ControlMaster=yes".into(),
            "-o".into(),
            "ControlPersist=no".into(),
            "-o".into(),
            format!("ControlPath={}", control.display()),
        ]);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        crate::process::own_group_dying_with_us(&mut cmd, libc::SIGTERM);
        let mut child = cmd.spawn().map_err(|e| {
            fail(format!(
                "stagerun: cannot run `ssh`: {}",
                crate::error::describe_io(&e)
            ))
        })?;
        let mut session = Session {
            _dir: Some(dir),
            control,
            child: None,
            log: Some(log),
            log_read: 0,
        };
        let until = Instant::now() + ssh.connect_timeout + Duration::from_secs(10);
        loop {
            if session.control.exists() {
                session.child = Some(child);
                return Ok(session);
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(OpenFailure {
                    stderr: session.take_log(),
                    code: status.code(),
                    ..OpenFailure::default()
                });
            }
            let interrupted = crate::signals::count() > signals_since;
            if interrupted || Instant::now() >= until {
                crate::process::group::terminate(
                    child.id() as i32,
                    Duration::from_millis(300),
                    &|| false,
                );
                let _ = child.wait();
                return Err(OpenFailure {
                    stderr: session.take_log(),
                    code: None,
                    timed_out: !interrupted,
                    interrupted,
                });
            }
            std::thread::sleep(MASTER_POLL);
        }
    }

    /// A master shared across invocations, already checked to answer; its
    /// log (ssh -E) is read from its current end: what it says later is
    /// about this invocation's commands.
    pub fn shared(control: PathBuf, log: Option<PathBuf>) -> Session {
        let log_read = log
            .as_ref()
            .and_then(|l| std::fs::metadata(l).ok())
            .map_or(0, |m| m.len());
        Session {
            _dir: None,
            control,
            child: None,
            log,
            log_read,
        }
    }

    /// True while the master can carry commands.
    pub fn alive(&mut self) -> bool {
        if !self.control.exists() {
            return false;
        }
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// What the master printed since the last call (its own errors:
    /// "Timeout, server … not responding", "Connection … closed").
    pub fn take_log(&mut self) -> String {
        let Some(path) = &self.log else {
            return String::new();
        };
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(path)
            && f.seek(SeekFrom::Start(self.log_read)).is_ok()
        {
            let mut buf = Vec::new();
            let _ = f.take(64 * 1024).read_to_end(&mut buf);
            self.log_read += buf.len() as u64;
            text = String::from_utf8_lossy(&buf).into_owned();
        }
        text
    }

    /// Tells our own master to go (TERM lets it remove its socket and say
    /// goodbye) without waiting: the log is written while it closes, and
    /// dropping the session reaps it. A shared master stays.
    pub fn begin_close(&self) {
        if let Some(child) = &self.child {
            crate::process::group::signal(child.id() as i32, libc::SIGTERM);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = child.id() as i32;
        // (Again after begin_close: a master that has gone is a zombie
        // still, so the signal reaches nothing else.)
        crate::process::group::signal(group, libc::SIGTERM);
        // A second signal stops the waiting: KILL at once.
        let before = crate::signals::count();
        let hurry = move || crate::signals::count() > before;
        // The master is watched without being reaped, so its pid (and group
        // id) stays ours until its group has been dealt with.
        let until = Instant::now() + Duration::from_secs(1);
        while !exited(group) && Instant::now() < until && !hurry() {
            std::thread::sleep(MASTER_POLL);
        }
        crate::process::group::terminate(group, Duration::from_millis(300), &hurry);
        let _ = child.wait();
    }
}

/// True once our child `pid` has ended; it stays a zombie until waited for.
fn exited(pid: i32) -> bool {
    // SAFETY: waitid with WNOWAIT only looks; info is plain data it fills.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) == 0 && info.si_pid() != 0
    }
}
