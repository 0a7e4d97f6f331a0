//! Short helper commands (git, the alert hook, ssh control commands, remote
//! stops, preflight steps): each in its own process group, bounded in time
//! and in the pipes it can hold. A helper whose child detaches (setsid) and
//! keeps the pipes open cannot hold stagerun past its limit: once the helper
//! itself has exited or been killed, its pipes get a moment to close and are
//! then abandoned.

use super::group;
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long pipes may stay open after the helper's own process is gone.
const PIPE_LINGER: Duration = Duration::from_millis(300);
const POLL: Duration = Duration::from_millis(5);

pub struct Helper {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub dir: Option<std::path::PathBuf>,
    pub limit: Duration,
    /// Bytes kept per stream.
    pub capture: usize,
    /// Signals received after this count end the helper early (None: only
    /// its own limit ends it, used for the cleanup that a signal started).
    pub signals_since: Option<usize>,
}

#[derive(Debug, Default)]
pub struct HelperOutput {
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub timed_out: bool,
    pub interrupted: bool,
    pub spawn_error: Option<String>,
}

impl HelperOutput {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// One line for a message: why it did not succeed.
    pub fn failure(&self, what: &str) -> String {
        if let Some(e) = &self.spawn_error {
            return format!("cannot run {what}: {e}");
        }
        if self.interrupted {
            return format!("{what} interrupted by a signal");
        }
        if self.timed_out {
            return format!("{what} timed out");
        }
        let status = self
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "no status".into());
        format!("{what} failed ({status})")
    }
}

fn reader(mut pipe: os_pipe::PipeReader, cap: usize) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = buf.clone();
    let _ = std::thread::Builder::new()
        .name("stagerun-helper-pipe".into())
        .spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => {
                        let mut b = sink.lock().unwrap_or_else(|p| p.into_inner());
                        let room = cap.saturating_sub(b.len());
                        b.extend_from_slice(&chunk[..n.min(room)]);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
        });
    buf
}

impl Helper {
    pub fn new(argv: Vec<String>, limit: Duration) -> Helper {
        Helper {
            argv,
            env: Vec::new(),
            dir: None,
            limit,
            capture: 64 * 1024,
            signals_since: Some(crate::signals::count()),
        }
    }

    pub fn run(&self) -> HelperOutput {
        let mut out = HelperOutput::default();
        let Some((program, args)) = self.argv.split_first() else {
            out.spawn_error = Some("empty command".into());
            return out;
        };
        let pipes = os_pipe::pipe().and_then(|o| os_pipe::pipe().map(|e| (o, e)));
        let ((out_r, out_w), (err_r, err_w)) = match pipes {
            Ok(p) => p,
            Err(e) => {
                out.spawn_error = Some(e.to_string());
                return out;
            }
        };
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(out_w)
            .stderr(err_w);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(d) = &self.dir {
            cmd.current_dir(d);
        }
        super::own_group_dying_with_us(&mut cmd, libc::SIGKILL);
        let spawned = cmd.spawn();
        // Our copies of the write ends must go, or EOF never comes.
        drop(cmd);
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                out.spawn_error = Some(crate::error::describe_io(&e));
                return out;
            }
        };
        let pgid = child.id() as i32;
        let stdout = reader(out_r, self.capture);
        let stderr = reader(err_r, self.capture);
        let until = Instant::now() + self.limit;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    out.status = Some(status);
                    break;
                }
                Ok(None) => {}
                Err(_) => break,
            }
            if self
                .signals_since
                .is_some_and(|n| crate::signals::count() > n)
            {
                out.interrupted = true;
            } else if Instant::now() >= until {
                out.timed_out = true;
            }
            if out.interrupted || out.timed_out {
                group::terminate(pgid, Duration::from_millis(300), &|| false);
                out.status = child.wait().ok();
                break;
            }
            std::thread::sleep(POLL);
        }
        // Whatever a detached grandchild still holds open is not waited for.
        group::signal(pgid, libc::SIGKILL);
        let linger = Instant::now() + PIPE_LINGER;
        while Instant::now() < linger
            && (Arc::strong_count(&stdout) > 1 || Arc::strong_count(&stderr) > 1)
        {
            std::thread::sleep(POLL);
        }
        let take = |b: &Arc<Mutex<Vec<u8>>>| {
            std::mem::take(&mut *b.lock().unwrap_or_else(|p| p.into_inner()))
        };
        out.stdout = take(&stdout);
        out.stderr = take(&stderr);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, limit: Duration) -> HelperOutput {
        Helper::new(vec!["sh".into(), "-c".into(), script.into()], limit).run()
    }

    #[test]
    fn output_and_status() {
        let o = sh("echo out; echo err >&2; exit 3", Duration::from_secs(5));
        assert_eq!(o.code(), Some(3));
        assert_eq!(o.stdout_text(), "out\n");
        assert_eq!(o.stderr_text(), "err\n");
    }

    #[test]
    fn a_detached_grandchild_holding_the_pipes_does_not_hold_us() {
        let start = Instant::now();
        let o = sh("setsid sleep 30 & exit 0", Duration::from_secs(5));
        assert!(o.success());
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn the_limit_kills_the_whole_group() {
        let start = Instant::now();
        let o = sh("sleep 30 & sleep 30", Duration::from_millis(300));
        assert!(o.timed_out);
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let o = Helper::new(vec!["/nonexistent/prog".into()], Duration::from_secs(1)).run();
        assert!(o.spawn_error.is_some());
    }
}
