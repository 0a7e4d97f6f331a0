//! Runs one command in its own process group, streams and scans its output,
//! enforces the timeout (TERM to the whole group, KILL after the grace
//! period), and makes sure nothing of it survives: after the main process
//! exits, leftover group members get the same TERM/KILL treatment.

use crate::capture::{Echo, LineScanner, pump};
use crate::signals;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// How long to wait for the output pipes to close once the process group is
/// gone; longer means something outside the group still holds them.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(10);

pub struct Options {
    pub timeout: Duration,
    pub grace: Duration,
    pub heartbeat: Duration,
    pub echo_stdout: Echo,
    pub echo_stderr: Echo,
    pub env: Vec<(String, String)>,
    /// Prefix for heartbeat and kill messages on stderr.
    pub label: String,
    /// An interactive terminal gets a live elapsed-time line instead of
    /// heartbeat lines.
    pub live_status: bool,
}

#[derive(Debug)]
pub struct Outcome {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// The signal that interrupted stagerun itself, if any.
    pub interrupted: Option<i32>,
    pub duration: Duration,
    pub stdout: LineScanner,
    pub stderr: LineScanner,
    /// Processes of the group still alive after KILL (should be 0).
    pub survivors: bool,
    /// Set when the command could not be started at all.
    pub spawn_error: Option<String>,
}

impl Outcome {
    /// What the classification rules look at.
    pub fn evidence(&self) -> crate::classify::Evidence {
        crate::classify::evidence(
            self.exit_code,
            self.signal,
            self.timed_out,
            &self.stdout,
            &self.stderr,
        )
    }
}

/// True while a live (non-zombie) process is in the group. Zombies do not
/// count: they are dead, and an orphan's zombie may wait for a reaper that
/// is not us.
pub fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    if pgid <= 0 || unsafe { libc::killpg(pgid, 0) } != 0 {
        return false;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{name}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp ..."; comm may contain anything.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let mut fields = stat[close + 1..].split_whitespace();
        let state = fields.next().unwrap_or("");
        let _ppid = fields.next();
        let pgrp: i32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(-1);
        if pgrp == pgid && state != "Z" && state != "X" {
            return true;
        }
    }
    false
}

fn signal_group(pgid: i32, sig: i32) {
    // SAFETY: pgid is the group we created for this child; ESRCH is fine.
    unsafe {
        libc::killpg(pgid, sig);
    }
}

/// A 1 MiB pipe instead of the default 64 KiB: a flooding suite then costs
/// far fewer context switches. Best effort; the kernel may cap it.
fn widen_pipe(pipe: &os_pipe::PipeReader) {
    use std::os::fd::AsRawFd;
    // SAFETY: F_SETPIPE_SZ on a pipe fd we own; failure leaves it as it was.
    unsafe {
        libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
    }
}

/// TERM the group, wait up to `grace` for it to empty, then KILL.
/// Returns true if something is still there after KILL.
pub fn terminate_group(pgid: i32, grace: Duration, immediate: bool) -> bool {
    if !group_alive(pgid) {
        return false;
    }
    if !immediate {
        signal_group(pgid, libc::SIGTERM);
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if !group_alive(pgid) {
                return false;
            }
            // A second interrupt means: stop waiting.
            if signals::count() > 1 {
                break;
            }
            thread::sleep(POLL);
        }
    }
    signal_group(pgid, libc::SIGKILL);
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if !group_alive(pgid) {
            return false;
        }
        thread::sleep(POLL);
    }
    group_alive(pgid)
}

/// Runs a helper command (git, an alert hook, ssh control commands) in its
/// own process group with a time limit. Ok(None) means it timed out and its
/// whole group was killed.
pub fn run_bounded(
    expr: duct::Expression,
    limit: Duration,
) -> std::io::Result<Option<std::process::Output>> {
    let handle = expr
        .unchecked()
        .before_spawn(|cmd| {
            cmd.process_group(0);
            Ok(())
        })
        .start()?;
    let pgid = handle.pids().first().copied().unwrap_or(0) as i32;
    match handle.wait_timeout(limit)? {
        Some(out) => Ok(Some(out.clone())),
        None => {
            terminate_group(pgid, Duration::from_millis(500), false);
            let _ = handle.wait();
            Ok(None)
        }
    }
}

fn fmt_elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Spawns `argv` and supervises it to the end. An error here means the
/// command could not be started; the caller turns that into evidence.
pub fn run(
    argv: &[String],
    opts: &Options,
    stdout_scanner: LineScanner,
    stderr_scanner: LineScanner,
) -> std::io::Result<Outcome> {
    let (out_r, out_w) = os_pipe::pipe()?;
    let (err_r, err_w) = os_pipe::pipe()?;
    widen_pipe(&out_r);
    widen_pipe(&err_r);
    let mut expr = duct::cmd(&argv[0], &argv[1..])
        .stdin_null()
        .stdout_file(out_w)
        .stderr_file(err_w)
        .unchecked()
        .before_spawn(|cmd| {
            cmd.process_group(0);
            Ok(())
        });
    for (k, v) in &opts.env {
        expr = expr.env(k, v);
    }
    let start = Instant::now();
    let handle = expr.start();
    // Our copies of the pipe's write ends must close, or EOF never comes.
    drop(expr);
    let handle = handle?;
    let pgid = handle.pids().first().copied().unwrap_or(0) as i32;

    let last_output = Arc::new(AtomicU64::new(0));
    let out_scanner = Arc::new(Mutex::new(stdout_scanner));
    let err_scanner = Arc::new(Mutex::new(stderr_scanner));
    let (done_tx, done_rx) = mpsc::channel::<()>();
    for (reader, echo, scanner) in [
        (out_r, opts.echo_stdout, out_scanner.clone()),
        (err_r, opts.echo_stderr, err_scanner.clone()),
    ] {
        let last = last_output.clone();
        let tx = done_tx.clone();
        thread::Builder::new()
            .name("stagerun-pump".into())
            .spawn(move || {
                pump(reader, echo, scanner, last, start);
                let _ = tx.send(());
            })?;
    }
    drop(done_tx);

    let deadline = start + opts.timeout;
    let mut timed_out = false;
    let mut interrupted = None;
    let mut next_heartbeat = start + opts.heartbeat;
    let mut next_status = start + Duration::from_secs(1);
    let signals_before = signals::count();
    let status = loop {
        let now = Instant::now();
        if signals::count() > signals_before {
            interrupted = signals::last();
            let sig = interrupted.map(signals::name).unwrap_or_default();
            eprintln!(
                "{}: received {sig}; stopping the suite's process group",
                opts.label
            );
            break None;
        }
        if now >= deadline {
            timed_out = true;
            eprintln!(
                "{}: timeout after {}; sending SIGTERM to the suite's process group (SIGKILL after {}s)",
                opts.label,
                fmt_elapsed(opts.timeout),
                opts.grace.as_secs_f64()
            );
            break None;
        }
        let silent_ms = (now.duration_since(start).as_millis() as u64)
            .saturating_sub(last_output.load(Ordering::Relaxed));
        if opts.live_status && silent_ms >= 1000 && now >= next_status {
            use std::io::Write;
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r\x1b[2K{}: running {} …",
                opts.label,
                fmt_elapsed(now - start)
            );
            let _ = err.flush();
            crate::capture::STATUS_SHOWN.store(true, Ordering::SeqCst);
            next_status = now + Duration::from_secs(1);
        }
        if !opts.live_status && now >= next_heartbeat {
            let silent = now.duration_since(start)
                - Duration::from_millis(last_output.load(Ordering::Relaxed));
            if silent >= opts.heartbeat {
                eprintln!(
                    "{}: still running after {} (no output for {})",
                    opts.label,
                    fmt_elapsed(now - start),
                    fmt_elapsed(silent)
                );
            }
            next_heartbeat = now + opts.heartbeat;
        }
        // Short slices keep signal handling prompt; the wait itself wakes
        // on SIGCHLD, so a finished child is seen at once.
        let slice_end = deadline
            .min(next_heartbeat)
            .min(now + Duration::from_millis(50));
        if let Some(output) = handle.wait_deadline(slice_end)? {
            break Some(output.status);
        }
    };

    crate::capture::clear_status();
    let immediate = signals::count() > signals_before + 1;
    let survivors = terminate_group(pgid, opts.grace, immediate);
    let status = match status {
        Some(s) => s,
        None => {
            // The group is gone or KILLed; reap the child.
            match handle.wait_timeout(Duration::from_secs(5))? {
                Some(o) => o.status,
                None => {
                    let _ = handle.kill();
                    handle.wait()?.status
                }
            }
        }
    };
    let duration = start.elapsed();

    // Wait for both pipes to reach EOF, but not forever: a process that left
    // the group could hold them open.
    let drain_until = Instant::now() + DRAIN_LIMIT;
    let mut drained = 0;
    while drained < 2 {
        let left = drain_until.saturating_duration_since(Instant::now());
        match done_rx.recv_timeout(left) {
            Ok(()) => drained += 1,
            Err(_) => break,
        }
    }
    if drained < 2 {
        eprintln!(
            "{}: output pipes still open {}s after the suite ended (a process escaped its group); not waiting",
            opts.label,
            DRAIN_LIMIT.as_secs()
        );
    }
    let take = |s: &Arc<Mutex<LineScanner>>| {
        let mut guard = s.lock().unwrap_or_else(|p| p.into_inner());
        guard.finish();
        std::mem::replace(&mut *guard, LineScanner::new(None, None, 0))
    };
    Ok(Outcome {
        exit_code: status.code(),
        signal: status.signal(),
        timed_out,
        interrupted,
        duration,
        stdout: take(&out_scanner),
        stderr: take(&err_scanner),
        survivors,
        spawn_error: None,
    })
}

/// Like `run`, but a command that cannot be started is an outcome too: exit
/// 127 and a `stagerun: cannot run PROG: REASON` line on its stderr, so the
/// classification rules say what it means (ssh or docker client missing, …)
/// for every caller alike. `scanners` makes a fresh pair each call, since a
/// failed start consumes the first.
pub fn run_or_spawn_failure(
    argv: &[String],
    opts: &Options,
    scanners: impl Fn() -> (LineScanner, LineScanner),
) -> Outcome {
    let (stdout, stderr) = scanners();
    let e = match run(argv, opts, stdout, stderr) {
        Ok(outcome) => return outcome,
        Err(e) => e,
    };
    let reason = match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
        _ => e.to_string(),
    };
    let line = format!("stagerun: cannot run `{}`: {reason}", argv[0]);
    let (mut stdout, mut stderr) = scanners();
    stderr.feed(format!("{line}\n").as_bytes());
    stdout.finish();
    stderr.finish();
    Outcome {
        exit_code: Some(127),
        signal: None,
        timed_out: false,
        interrupted: None,
        duration: Duration::ZERO,
        stdout,
        stderr,
        survivors: false,
        spawn_error: Some(line),
    }
}
