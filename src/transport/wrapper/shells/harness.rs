//! The harness: real shells running the wrapper as `docker exec` would.

use super::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A shell to run the scripts with, and the PATH it sees.
#[derive(Debug, Clone)]
pub(super) struct Shell {
    pub(super) argv: Vec<String>,
    pub(super) path: Option<PathBuf>,
}

/// A folder of busybox applets only: no coreutils, no setsid of util-linux.
pub(super) fn busybox_only() -> Option<PathBuf> {
    let out = Command::new("busybox").arg("--list").output().ok()?;
    let dir = std::env::temp_dir().join(format!("stagerun-bb-{}", std::process::id()));
    if !dir.join("sh").exists() {
        std::fs::create_dir_all(&dir).ok()?;
        let bb = which("busybox")?;
        for applet in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = std::os::unix::fs::symlink(&bb, dir.join(applet));
        }
    }
    Some(dir)
}

pub(super) fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.exists())
}

pub(super) fn shells() -> Vec<Shell> {
    let plain = |argv: &[&str]| Shell {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        path: None,
    };
    let mut all = vec![plain(&["dash"]), plain(&["bash"])];
    if which("busybox").is_some() {
        all.push(plain(&["busybox", "sh"]));
        if let Some(dir) = busybox_only() {
            all.push(Shell {
                argv: vec![dir.join("sh").display().to_string()],
                path: Some(dir),
            });
        }
    }
    all
}

/// A busybox-only PATH without setsid: the suite runs in the group mode.
pub(super) fn without_setsid() -> Option<Shell> {
    let dir = busybox_only()?;
    let bare = dir.with_extension("nosetsid");
    if !bare.exists() {
        std::fs::create_dir_all(&bare).ok()?;
        for e in std::fs::read_dir(&dir).ok()?.flatten() {
            if e.file_name() != "setsid" {
                let _ = std::os::unix::fs::symlink(e.path(), bare.join(e.file_name()));
            }
        }
    }
    Some(Shell {
        argv: vec![bare.join("sh").display().to_string()],
        path: Some(bare),
    })
}

/// One invocation of a script under a shell, its output gathered as it
/// comes; the receipt (`a`) goes to its stdin once the end marker is in,
/// as stagerun sends it.
pub(super) struct Running {
    pub(super) child: Child,
    pub(super) stdin: Option<std::process::ChildStdin>,
    pub(super) out: Arc<Mutex<Vec<u8>>>,
    pub(super) err: Arc<Mutex<Vec<u8>>>,
    /// Set to lose the channel: the readers close their pipes.
    pub(super) cut: Arc<std::sync::atomic::AtomicBool>,
}

/// Reads a pipe until its end, or until `cut`, when the pipe is closed
/// under the writer (a lost channel).
pub(super) fn gather(
    r: impl Read + std::os::fd::AsRawFd + Send + 'static,
    cut: Arc<std::sync::atomic::AtomicBool>,
) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = buf.clone();
    // SAFETY: fcntl on a pipe fd this thread owns.
    unsafe {
        let fl = libc::fcntl(r.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(r.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    std::thread::spawn(move || {
        let mut r = r;
        let mut chunk = [0u8; 8192];
        while !cut.load(std::sync::atomic::Ordering::SeqCst) {
            match r.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => sink.lock().unwrap().extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(_) => break,
            }
        }
    });
    buf
}

impl Running {
    pub(super) fn start(shell: &Shell, argv: &[String]) -> Running {
        let mut cmd = Command::new("/usr/bin/setsid");
        cmd.args(&shell.argv).args(&argv[1..]);
        if let Some(p) = &shell.path {
            cmd.env("PATH", p);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let out = gather(child.stdout.take().unwrap(), cut.clone());
        let err = gather(child.stderr.take().unwrap(), cut.clone());
        let stdin = child.stdin.take();
        Running {
            child,
            stdin,
            out,
            err,
            cut,
        }
    }

    pub(super) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    pub(super) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    pub(super) fn wait_for(&self, needle: &str, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if self.stdout().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// To the end: the receipt once the end marker is in, then the exit.
    pub(super) fn finish(mut self, limit: Duration) -> (Option<i32>, String, String) {
        let until = Instant::now() + limit;
        while Instant::now() < until && !self.stdout().contains(":end:") {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if self.stdout().contains(":end:")
            && let Some(mut w) = self.stdin.take()
        {
            let _ = w.write_all(b"a\n");
        }
        self.stdin = None;
        let status = wait(&mut self.child, Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
        (status, self.stdout(), self.stderr())
    }

    /// The channel lost: all three pipes closed under the follower, which
    /// must notice (its next write, or its stdin's end) and leave.
    pub(super) fn lose_channel(mut self) -> Option<i32> {
        self.stdin = None;
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        wait(&mut self.child, Duration::from_secs(10))
    }
}

pub(super) fn wait(child: &mut Child, limit: Duration) -> Option<i32> {
    let until = Instant::now() + limit;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return s.code();
        }
        if Instant::now() >= until {
            let _ = child.kill();
            return child.wait().ok().and_then(|s| s.code());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

thread_local! {
    // Unique per test: the wrapper stops whatever carries its nonce, and
    // the tests run side by side.
    static NONCE: String = crate::capture::markers::nonce();
}

pub(super) fn nonce() -> String {
    NONCE.with(|n| n.clone())
}

pub(super) struct Spec<'a> {
    pub(super) state: &'a Path,
    pub(super) deadline: &'a str,
    pub(super) grace: &'a str,
    pub(super) report: &'a str,
    pub(super) identity: &'a str,
    pub(super) limit_kib: &'a str,
    pub(super) nonce: String,
}

impl<'a> Spec<'a> {
    pub(super) fn new(state: &'a Path) -> Spec<'a> {
        Spec {
            state,
            deadline: "30000",
            grace: "1",
            report: "",
            identity: "same-command",
            limit_kib: "1048576",
            nonce: nonce(),
        }
    }

    pub(super) fn argv(&self, suite: &[&str]) -> Vec<String> {
        let mut argv = vec![
            "sh".to_string(),
            "-c".into(),
            WRAPPER.clone(),
            WRAPPER_ARG0.into(),
            "run".into(),
            self.nonce.clone(),
            self.state.display().to_string(),
            "ORCH-1".into(),
            self.deadline.into(),
            self.grace.into(),
            self.report.into(),
            self.identity.into(),
            "2026-12-03T10:00:00Z".into(),
            self.limit_kib.into(),
            "60".into(),
            "30".into(),
        ];
        argv.extend(suite.iter().map(|s| s.to_string()));
        argv
    }
}

pub(super) fn lock(state: &Path) -> PathBuf {
    state.join("ORCH-1.lock")
}

/// Lines of `text` without the markers of `nonce` (what stagerun scans).
pub(super) fn unmarked(text: &str, nonce: &str) -> String {
    let mut s = crate::capture::markers::Splitter::new(nonce);
    let mut data = Vec::new();
    let mut emit = |p: crate::capture::markers::Piece| {
        if let crate::capture::markers::Piece::Data(d) = p {
            data.extend_from_slice(d)
        }
    };
    s.push(text.as_bytes(), &mut emit);
    s.flush(&mut emit);
    String::from_utf8_lossy(&data).into_owned()
}

pub(super) fn processes_with(needle: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| {
            let c = String::from_utf8_lossy(c).replace('\0', " ");
            c.contains(needle) && !c.contains("stagerun")
        })
        .count()
}
