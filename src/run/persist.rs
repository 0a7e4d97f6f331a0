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
use std::path::PathBuf;
use std::time::Duration;

/// The socket path of the shared master for these ssh settings.
pub fn shared_socket(ssh: &Ssh) -> Option<PathBuf> {
    let dir = super::recovery::state_dir()?;
    let path = dir.join(format!("m-{}", &ssh.fingerprint()[..12]));
    (path.as_os_str().len() < 100).then_some(path)
}

fn check(ssh: &Ssh, socket: &std::path::Path) -> bool {
    let argv = ssh.base(&[
        "-O".into(),
        "check".into(),
        "-o".into(),
        format!("ControlPath={}", socket.display()),
    ]);
    Helper::new(argv, Duration::from_secs(5)).run().success()
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
    if socket.exists() {
        if check(ssh, &socket) {
            crate::note!("reusing the shared ssh master for {}", ssh.target());
            let log = socket.with_extension("log");
            return Ok(Session::shared(socket, Some(log)));
        }
        crate::note!(
            "the shared ssh master for {} did not answer; opening a fresh one",
            ssh.target()
        );
        let _ = std::fs::remove_file(&socket);
    }
    open_shared(ssh, socket, persist, signals_since)
}

/// Starts a shared master on `socket` and waits until ssh has put it in the
/// background.
fn open_shared(
    ssh: &Ssh,
    socket: PathBuf,
    persist: Duration,
    signals_since: usize,
) -> Result<Session, OpenFailure> {
    let log = socket.with_extension("log");
    // Both ssh's stderr (before it goes to the background) and its log
    // (-E: once in the background its stderr is /dev/null) append here.
    let _ = std::fs::remove_file(&log);
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| OpenFailure {
            stderr: format!("stagerun: cannot create {}: {e}", log.display()),
            ..OpenFailure::default()
        })?;
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
    // Backgrounded by ssh itself (-f) once authenticated: it must outlive
    // us, so no death signal; its messages go to the log file.
    let mut cmd = std::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
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
    let until = std::time::Instant::now() + ssh.connect_timeout + Duration::from_secs(10);
    let status =
        wait_backgrounded(&mut child, until, signals_since).map_err(|interrupted| OpenFailure {
            stderr: read_log(),
            code: None,
            timed_out: !interrupted,
            interrupted,
        })?;
    if status.is_some_and(|s| s.success()) && socket.exists() {
        crate::note!(
            "opened a shared ssh master for {} (kept {}s after its last use; `stagerun disconnect` closes it)",
            ssh.target(),
            persist.as_secs()
        );
        return Ok(Session::shared(socket, Some(log)));
    }
    Err(OpenFailure {
        stderr: read_log(),
        code: status.and_then(|s| s.code()),
        ..OpenFailure::default()
    })
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
    if !socket.exists() {
        return Ok(false);
    }
    let argv = ssh.base(&[
        "-O".into(),
        "exit".into(),
        "-o".into(),
        format!("ControlPath={}", socket.display()),
    ]);
    let out = Helper::new(argv, Duration::from_secs(10)).run();
    let _ = std::fs::remove_file(&socket);
    if out.success() {
        Ok(true)
    } else {
        Err(out.failure("ssh -O exit"))
    }
}
