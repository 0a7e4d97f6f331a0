//! The ssh master for this invocation: a private one that dies with us, or,
//! with `connection_persist`, one shared across invocations (preflight, run
//! and gate of one pipeline pay one handshake). A shared master lives in a
//! private folder of this user, keyed on everything that makes an ssh
//! identity (host, port, user, key, known_hosts, options): never shared
//! between users or settings. A stale or broken one is replaced, and never
//! decides a verdict: provenance does.

use crate::config::Settings;
use crate::process::helper::Helper;
use crate::transport::session::{OpenFailure, Session};
use crate::transport::ssh::Ssh;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// In the environment of each master we start: `NONCE:SOCKET`. `ssh -f`
/// forks away from us, and this is how that background process is found
/// again: to tell whether the socket is its own, to close it when it is
/// not, and for `disconnect` to reach one that lost its socket.
const MASTER_VAR: &str = "STAGERUN_SSH_MASTER";

/// The socket path of the shared master for these ssh settings.
pub fn shared_socket(ssh: &Ssh) -> Option<PathBuf> {
    let dir = crate::state::state_dir()?;
    let path = dir.join(format!("m-{}", &ssh.fingerprint()[..12]));
    (path.as_os_str().len() < 100).then_some(path)
}

/// The pid of the master answering on `socket` (`ssh -O check` says
/// `Master running (pid=N)`); Some(None) when it answers without one.
fn answering(ssh: &Ssh, socket: &Path) -> Option<Option<i32>> {
    let argv = ssh.base(&[
        "-O".into(),
        "check".into(),
        "-o".into(),
        format!("ControlPath={}", socket.display()),
    ]);
    let out = Helper::new(argv, Duration::from_secs(5)).run();
    if !out.success() {
        return None;
    }
    let text = out.stderr_text();
    let pid = text
        .split_once("(pid=")
        .and_then(|(_, rest)| rest.split(')').next()?.parse().ok());
    Some(pid)
}

/// What is at `path` when it is neither absent nor a socket.
fn not_a_socket(path: &Path) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let kind = std::fs::symlink_metadata(path).ok()?.file_type();
    if kind.is_socket() {
        None
    } else if kind.is_dir() {
        Some("a folder")
    } else if kind.is_symlink() {
        Some("a symbolic link")
    } else {
        Some("a file")
    }
}

/// The masters we started for `socket` that are still alive: (pid, nonce).
fn masters_of(socket: &Path) -> Vec<(i32, String)> {
    let suffix = format!(":{}", socket.display());
    crate::process::group::with_env(MASTER_VAR)
        .into_iter()
        .filter_map(|(pid, value)| {
            let value = String::from_utf8(value).ok()?;
            let nonce = value.strip_suffix(&suffix)?;
            Some((pid, nonce.to_string()))
        })
        .collect()
}

/// Closes masters at once (TERM, then KILL after a second): each is an
/// authenticated connection nobody can reach through the socket.
fn close(pids: &[i32]) {
    let alive = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| crate::process::group::state_and_group(&s).map(|(st, _)| st != "Z"))
            .unwrap_or(false)
    };
    for (sig, wait) in [(libc::SIGTERM, 1000), (libc::SIGKILL, 1000)] {
        let left: Vec<i32> = pids.iter().copied().filter(|&p| alive(p)).collect();
        if left.is_empty() {
            return;
        }
        for &pid in &left {
            // SAFETY: a pid just read from /proc whose environment carries
            // our master tag; ESRCH is fine.
            unsafe {
                libc::kill(pid, sig);
            }
        }
        let until = Instant::now() + Duration::from_millis(wait);
        while Instant::now() < until && left.iter().any(|&p| alive(p)) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The lock beside the socket that serialises opening a shared master:
/// racing invocations each opened one, and all but the first found the
/// socket taken and stayed connected without it, forever. Waits for it
/// while another invocation opens (at most `until`); None when it cannot
/// be had (then this run uses a master of its own).
fn lock(
    socket: &Path,
    until: Instant,
    signals_since: usize,
) -> Result<Option<std::fs::File>, OpenFailure> {
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(socket.with_extension("lock"))
    else {
        return Ok(None);
    };
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(_)) => return Ok(None),
        }
        if crate::signals::count() > signals_since {
            return Err(OpenFailure {
                interrupted: true,
                ..OpenFailure::default()
            });
        }
        if Instant::now() >= until {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn reuse(ssh: &Ssh, socket: &Path) -> Option<Session> {
    if not_a_socket(socket).is_some() || !socket.exists() {
        return None;
    }
    answering(ssh, socket)?;
    crate::note!("reusing the shared ssh master for {}", ssh.target());
    Some(Session::shared(
        socket.to_path_buf(),
        Some(socket.with_extension("log")),
    ))
}

pub fn session_for(settings: &Settings, ssh: &Ssh) -> Result<Session, OpenFailure> {
    session(settings, ssh, crate::signals::count())
}

pub fn session(
    settings: &Settings,
    ssh: &Ssh,
    signals_since: usize,
) -> Result<Session, OpenFailure> {
    let persist = settings.connection_persist.0;
    if persist.is_zero() {
        return Session::open(ssh, signals_since);
    }
    let Some(socket) = shared_socket(ssh) else {
        crate::note!("no private folder for a shared ssh master; using one for this run only");
        return Session::open(ssh, signals_since);
    };
    if let Some(session) = reuse(ssh, &socket) {
        return Ok(session);
    }
    // The holder may take as long as opening takes (connect, then 10 s).
    let until = Instant::now() + ssh.connect_timeout + Duration::from_secs(15);
    let Some(_lock) = lock(&socket, until, signals_since)? else {
        crate::note!(
            "another invocation is still opening the shared ssh master for {} (or its lock cannot be taken); using a master for this run only",
            ssh.target()
        );
        return Session::open(ssh, signals_since);
    };
    // Opened by another invocation while we waited.
    if let Some(session) = reuse(ssh, &socket) {
        return Ok(session);
    }
    if let Some(what) = not_a_socket(&socket) {
        crate::note!(
            "the shared ssh master's socket path {} is {what}, not a socket; using a master for this run only (remove it to share again)",
            socket.display()
        );
        return Session::open(ssh, signals_since);
    }
    if socket.exists() {
        crate::note!(
            "the shared ssh master for {} did not answer; opening a fresh one",
            ssh.target()
        );
        let _ = std::fs::remove_file(&socket);
    }
    open_shared(ssh, socket, persist, signals_since)
}

/// Both ssh's stderr (before it goes to the background) and its log (-E:
/// once in the background its stderr is /dev/null) append to one file.
fn master_log(socket: &std::path::Path) -> Result<(PathBuf, std::fs::File), OpenFailure> {
    let log = socket.with_extension("log");
    let _ = std::fs::remove_file(&log);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| OpenFailure {
            stderr: format!("stagerun: cannot create {}: {e}", log.display()),
            ..OpenFailure::default()
        })?;
    Ok((log, file))
}

/// Starts a shared master on `socket` and waits until ssh has put it in the
/// background.
fn open_shared(
    ssh: &Ssh,
    socket: PathBuf,
    persist: Duration,
    signals_since: usize,
) -> Result<Session, OpenFailure> {
    let (log, log_file) = master_log(&socket)?;
    let argv = ssh.base(&[
        "-M".into(),
        "-N".into(),
        "-f".into(),
        "-E".into(),
        log.display().to_string(),
        "-o".into(),
        "ControlMaster=yes".into(),
        "-o".into(),
        format!("ControlPersist={}", persist.as_secs().max(1)),
        "-o".into(),
        format!("ControlPath={}", socket.display()),
    ]);
    if crate::fault::active("shared-socket-taken") {
        // What a racing opener that takes no lock (an older stagerun, a
        // hand-run ssh) does between our look and ssh's own.
        let _ = std::fs::create_dir(&socket);
    }
    // Backgrounded by ssh itself (-f) once authenticated: it must outlive
    // us, so no death signal; its messages go to the log file.
    let nonce = crate::capture::markers::nonce();
    let mut cmd = std::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env(MASTER_VAR, format!("{nonce}:{}", socket.display()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log_file);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let mut child = cmd.spawn().map_err(|e| OpenFailure {
        stderr: format!(
            "stagerun: cannot run `ssh`: {}",
            crate::error::describe_io(&e)
        ),
        ..OpenFailure::default()
    })?;
    // Every master this call started, whether or not it got the socket.
    let ours = || -> Vec<i32> {
        masters_of(&socket)
            .into_iter()
            .filter(|(_, n)| *n == nonce)
            .map(|(pid, _)| pid)
            .collect()
    };
    let until = std::time::Instant::now() + ssh.connect_timeout + Duration::from_secs(10);
    let status = wait_backgrounded(&mut child, until, signals_since).map_err(|interrupted| {
        // It may have forked into the background just as we gave up.
        close(&ours());
        OpenFailure {
            stderr: read_log(),
            code: None,
            timed_out: !interrupted,
            interrupted,
        }
    })?;
    if !status.is_some_and(|s| s.success()) {
        close(&ours());
        return Err(OpenFailure {
            stderr: read_log(),
            code: status.and_then(|s| s.code()),
            ..OpenFailure::default()
        });
    }
    let mine = ours();
    claim(ssh, socket, mine, persist, signals_since)
}

/// The master ssh just put in the background is the shared one only when
/// the socket answers with its pid. "ssh exited 0 and the socket exists"
/// is not "my master": ssh that finds the path taken says "disabling
/// multiplexing" and stays connected without a socket (and then
/// ControlPersist never ends it), so such a master is closed at once.
fn claim(
    ssh: &Ssh,
    socket: PathBuf,
    mine: Vec<i32>,
    persist: Duration,
    signals_since: usize,
) -> Result<Session, OpenFailure> {
    match answering(ssh, &socket) {
        Some(Some(pid)) if mine.contains(&pid) => {
            crate::note!(
                "opened a shared ssh master for {} (kept {}s after its last use; `stagerun disconnect` closes it)",
                ssh.target(),
                persist.as_secs()
            );
            let log = socket.with_extension("log");
            Ok(Session::shared(socket, Some(log)))
        }
        _ => {
            close(&mine);
            crate::note!(
                "the shared ssh master's socket {} is not the master ssh just opened (closed that one); using a master for this run only",
                socket.display()
            );
            Session::open(ssh, signals_since)
        }
    }
}

/// Waits for ssh to exit (it forks into the background once connected);
/// stops it on a signal or at `until`. Err(true): interrupted by a signal,
/// Err(false): out of time.
fn wait_backgrounded(
    child: &mut std::process::Child,
    until: std::time::Instant,
    signals_since: usize,
) -> Result<Option<std::process::ExitStatus>, bool> {
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            break Ok(Some(st));
        }
        let interrupted = crate::signals::count() > signals_since;
        if interrupted || std::time::Instant::now() >= until {
            crate::process::group::terminate(
                child.id() as i32,
                Duration::from_millis(300),
                &|| false,
            );
            let _ = child.wait();
            return Err(interrupted);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `stagerun disconnect`: closes the shared master for these settings.
pub fn disconnect(ssh: &Ssh) -> Result<bool, String> {
    let Some(socket) = shared_socket(ssh) else {
        return Ok(false);
    };
    // The master's log goes with it (and with a master that already expired).
    let _ = std::fs::remove_file(socket.with_extension("log"));
    // Masters of ours without the socket (one that lost it, or an earlier
    // race's) cannot be reached with -O exit: they are closed all the same.
    let unreachable = |answering: Option<i32>| {
        let pids: Vec<i32> = masters_of(&socket)
            .into_iter()
            .map(|(pid, _)| pid)
            .filter(|&pid| Some(pid) != answering)
            .collect();
        close(&pids);
        !pids.is_empty()
    };
    if not_a_socket(&socket).is_some() || !socket.exists() {
        return Ok(unreachable(None));
    }
    let pid = answering(ssh, &socket).flatten();
    let closed_others = unreachable(pid);
    let argv = ssh.base(&[
        "-O".into(),
        "exit".into(),
        "-o".into(),
        format!("ControlPath={}", socket.display()),
    ]);
    let out = Helper::new(argv, Duration::from_secs(10)).run();
    let _ = std::fs::remove_file(&socket);
    if out.success() || closed_others {
        Ok(true)
    } else {
        Err(out.failure("ssh -O exit"))
    }
}
