//! Runs one attempt's command in its own process group (dying with us),
//! feeds both output streams to their scanners, enforces the deadline (TERM
//! to the group, KILL after the grace period) and makes sure nothing of it
//! survives locally. Nothing here waits on a terminal: echo goes to the
//! writer threads, heartbeats too.
//!
//! An attempt may take several connections (a reattach after a lost
//! channel): the scanners live in the `Supervisor` across them, so the
//! suite's output is one stream however often the channel came back.

mod spawn;

use super::group;
use crate::capture::{Scan, Scanner};
use crate::diag::{self, Stream};
use spawn::spawn;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// How long the pipes may stay open once the process group is gone; longer
/// means something that left the group still holds them.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);
/// After the end marker, the transport client gets this long to exit by
/// itself before it is stopped (a hung channel must not hold the verdict).
const END_LINGER: Duration = Duration::from_secs(5);
const SLICE: Duration = Duration::from_millis(50);

pub struct Options {
    /// When this attempt must stop (its timeout, or the run's deadline).
    pub deadline: Instant,
    pub grace: Duration,
    pub heartbeat: Duration,
    /// Where live output goes (stdout's, stderr's); None: quiet.
    pub echo: Option<(Stream, Stream)>,
    pub env: Vec<(String, String)>,
    pub live_status: bool,
    /// `attempt 2/3` in progress lines.
    pub label: String,
    /// Signals after this count interrupt the attempt.
    pub signals_since: usize,
    /// Set by the stdout scanner when the end marker arrives.
    pub end_seen: Arc<AtomicBool>,
    /// Put in the command's environment (`STAGERUN_RUN`) and swept for
    /// after it ends: processes that left its group still carry it.
    pub tag: Option<String>,
    /// Wrapped: the command's stdin carries a keepalive line (`k`) this
    /// often and, once the end marker is in, the receipt (`a`) after which
    /// the wrapper removes the run's spool. None: stdin is /dev/null.
    pub keepalive: Option<Duration>,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub spawn_error: Option<String>,
    pub timed_out: bool,
    pub interrupted: Option<i32>,
    pub duration: Duration,
    pub stdout: Scan,
    pub stderr: Scan,
    /// Local processes of the group still alive after KILL (should be none).
    pub survivors: bool,
    /// The pipes stayed open after the group was gone.
    pub pipes_held: bool,
    /// Each time the channel was lost mid-suite and came back.
    pub reattaches: Vec<Reattach>,
    /// The run's nonce as its markers carried it last (an adopted run's).
    pub nonce: Option<String>,
}

/// A channel lost mid-suite and the connection that read on.
#[derive(Debug, Clone, Default)]
pub struct Reattach {
    pub at: chrono::DateTime<chrono::Utc>,
    /// From the loss to the resume marker (or to giving up).
    pub away: Duration,
    pub stdout_offset: u64,
    pub stderr_offset: u64,
    /// Connections it took (1: the first reattach worked).
    pub tries: u32,
    /// How the channel was lost (the client's exit).
    pub cause: String,
    /// False when no connection could read on.
    pub resumed: bool,
}

/// How one connection ended.
#[derive(Debug, Default, Clone)]
pub struct Connection {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub spawn_error: Option<String>,
    pub timed_out: bool,
    pub interrupted: Option<i32>,
    pub survivors: bool,
    pub pipes_held: bool,
}

pub fn fmt_elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// The command's stdin, shared by the keepalives of the waiting thread and
/// the receipt the stdout reader sends the moment the end marker is in.
type Stdin = Arc<Mutex<Option<os_pipe::PipeWriter>>>;

/// Sends `line` on the command's stdin (once `close`d, nothing more goes).
fn tell(stdin: &Stdin, line: &[u8], close: bool) {
    let mut guard = stdin.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(w) = guard.as_mut() {
        // A channel gone takes the pipe with it: the error says nothing new.
        let _ = w.write(line);
    }
    if close {
        *guard = None;
    }
}

fn pump(
    mut reader: os_pipe::PipeReader,
    scanner: Shared,
    echo: Option<Stream>,
    last_output: Arc<AtomicU64>,
    start: Instant,
    receipt: Option<(Stdin, Arc<AtomicBool>)>,
) {
    let mut buf = vec![0u8; 256 * 1024];
    let mut shown = Vec::new();
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        last_output.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
        // Scan first: the verdict never waits for the echo.
        shown.clear();
        if let Some(s) = scanner.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            s.feed_echo(&buf[..n], &mut shown);
        }
        // The receipt goes as soon as the end is scanned: the wrapper
        // removes the run's spool and ends, and the client with it.
        if let Some((stdin, end_seen)) = &receipt
            && end_seen.load(Ordering::SeqCst)
        {
            tell(stdin, b"a\n", true);
        }
        if let Some(stream) = echo
            && !shown.is_empty()
        {
            diag::echo(stream, &shown);
        }
    }
}

/// The scanners, shared with the pump threads until the end.
type Shared = Arc<Mutex<Option<Scanner>>>;

/// The scanners of one attempt, across its connections.
pub struct Supervisor {
    out: Shared,
    err: Shared,
    start: Instant,
}

impl Supervisor {
    pub fn new(stdout: Scanner, stderr: Scanner) -> Supervisor {
        Supervisor {
            out: Arc::new(Mutex::new(Some(stdout))),
            err: Arc::new(Mutex::new(Some(stderr))),
            start: Instant::now(),
        }
    }

    fn with<T>(s: &Shared, f: impl FnOnce(&mut Scanner) -> T) -> Option<T> {
        s.lock().unwrap_or_else(|p| p.into_inner()).as_mut().map(f)
    }

    /// True when the last connection ended inside the suite's output:
    /// the start (or resume) marker came, the end marker did not.
    pub fn lost_mid_suite(&self) -> bool {
        Self::with(&self.out, |s| s.in_suite()).unwrap_or(false)
            || Self::with(&self.err, |s| s.in_suite()).unwrap_or(false)
    }

    /// The run's nonce as the markers carry it now (an adopted run's).
    pub fn nonce(&self) -> Option<String> {
        Self::with(&self.out, |s| s.nonce()).flatten()
    }

    /// The spool offsets read so far (stdout, stderr).
    pub fn offsets(&self) -> (u64, u64) {
        (
            Self::with(&self.out, |s| s.offset()).unwrap_or(0),
            Self::with(&self.err, |s| s.offset()).unwrap_or(0),
        )
    }

    /// How many resume markers came, and when the last one did.
    pub fn resumes(&self) -> u32 {
        Self::with(&self.out, |s| s.resumes()).unwrap_or(0)
    }

    pub fn resumed_at(&self) -> Option<Instant> {
        Self::with(&self.out, |s| s.resumed_at()).flatten()
    }

    /// The wrapper said there is no run to follow.
    pub fn gone(&self) -> bool {
        Self::with(&self.out, |s| s.gone()).unwrap_or(false)
    }

    /// Ends a connection that was lost mid-suite (see `Scanner::disconnect`).
    pub fn disconnect(&self) {
        Self::with(&self.out, Scanner::disconnect);
        Self::with(&self.err, Scanner::disconnect);
    }

    /// Runs one connection of the attempt to its end.
    pub fn connect(
        &mut self,
        argv: &[String],
        opts: &Options,
        on_start: impl FnOnce(i32),
    ) -> Connection {
        let start = Instant::now();
        let mut c = Connection::default();
        let (handle, out_r, err_r, stdin) = match spawn(argv, opts) {
            Ok(started) => started,
            Err(e) => {
                c.spawn_error = Some(e);
                return c;
            }
        };
        let pgid = handle.pids().first().copied().unwrap_or(0) as i32;
        on_start(pgid);
        crate::fault::point("attempt-started");

        let last_output = Arc::new(AtomicU64::new(0));
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let stdin: Stdin = Arc::new(Mutex::new(stdin));
        let receipt = Some((stdin.clone(), opts.end_seen.clone()));
        for (reader, scanner, echo, receipt) in [
            (
                out_r,
                self.out.clone(),
                opts.echo.map(|e| e.0),
                receipt.clone(),
            ),
            (err_r, self.err.clone(), opts.echo.map(|e| e.1), receipt),
        ] {
            let last = last_output.clone();
            let tx = done_tx.clone();
            let spawned = std::thread::Builder::new()
                .name("stagerun-pump".into())
                .spawn(move || {
                    pump(reader, scanner, echo, last, start, receipt);
                    let _ = tx.send(());
                });
            if spawned.is_err() {
                c.spawn_error = Some("cannot start an output reader thread".into());
            }
        }
        drop(done_tx);

        let status = wait(&handle, opts, start, &last_output, &mut c, &stdin);
        tell(&stdin, b"", true);
        diag::clear_status();
        let hurry = || crate::signals::count() > opts.signals_since + 1;
        stop_what_is_left(pgid, opts, &hurry, &mut c);
        let status = match status {
            Some(s) => Some(s),
            None => match handle.wait_timeout(Duration::from_secs(5)) {
                Ok(Some(o)) => Some(o.status),
                _ => {
                    let _ = handle.kill();
                    handle.wait().ok().map(|o| o.status)
                }
            },
        };
        if let Some(st) = status {
            c.code = st.code();
            c.signal = st.signal();
        }
        c.pipes_held = drained(&done_rx, &hurry) < 2;
        c
    }

    /// Flushes both scanners and fills in what they saw; `last` is the
    /// connection that ended the attempt.
    pub fn finish(self, last: Connection) -> Outcome {
        let mut o = Outcome {
            code: last.code,
            signal: last.signal,
            spawn_error: last.spawn_error,
            timed_out: last.timed_out,
            interrupted: last.interrupted,
            survivors: last.survivors,
            pipes_held: last.pipes_held,
            ..Outcome::default()
        };
        finish_scans(&mut o, &self.out, &self.err, self.start);
        o
    }
}

/// Flushes both scanners and fills in what they saw.
fn finish_scans(o: &mut Outcome, out_scanner: &Shared, err_scanner: &Shared, start: Instant) {
    let take = |s: &Shared| s.lock().unwrap_or_else(|p| p.into_inner()).take();
    let (mut out, mut err) = (take(out_scanner), take(err_scanner));
    for s in [out.as_mut(), err.as_mut()].into_iter().flatten() {
        s.flush();
    }
    // The suite's own status: its end marker's, or the process's when
    // it ran directly.
    let suite_exit = if out.as_ref().is_some_and(Scanner::wrapped) {
        [&out, &err]
            .into_iter()
            .find_map(|s| s.as_ref().and_then(Scanner::end_status))
    } else {
        o.code
    };
    let done = |s: Option<Scanner>| {
        s.map(|s| s.finish_for(suite_exit, false))
            .unwrap_or_default()
    };
    o.stdout = done(out);
    o.stderr = done(err);
    o.duration = start.elapsed();
}

/// Waits for the command to exit, the deadline, a signal, or a client that
/// lingers after the end marker; shows progress meanwhile. None: it did not
/// exit by itself.
fn wait(
    handle: &duct::Handle,
    opts: &Options,
    start: Instant,
    last_output: &AtomicU64,
    outcome: &mut Connection,
    stdin: &Stdin,
) -> Option<ExitStatus> {
    let mut next_heartbeat = start + opts.heartbeat;
    let mut next_status = start + Duration::from_secs(1);
    let mut next_keepalive = start + opts.keepalive.unwrap_or_default();
    let mut end_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if let Some(every) = opts.keepalive
            && now >= next_keepalive
        {
            tell(stdin, b"k\n", false);
            next_keepalive = now + every;
        }
        if crate::signals::count() > opts.signals_since {
            outcome.interrupted = crate::signals::last();
            break None;
        }
        if now >= opts.deadline {
            outcome.timed_out = true;
            break None;
        }
        if opts.end_seen.load(Ordering::SeqCst) {
            let at = *end_at.get_or_insert(now);
            if now >= at + END_LINGER {
                // The suite has ended; the client just does not exit.
                break None;
            }
        }
        let silent = now
            .saturating_duration_since(start)
            .saturating_sub(Duration::from_millis(last_output.load(Ordering::Relaxed)));
        let elapsed = now.saturating_duration_since(start);
        let left = opts.deadline.saturating_duration_since(now);
        if opts.live_status && silent >= Duration::from_secs(1) && now >= next_status {
            diag::status(&format!(
                "stagerun: {} running {} ({} left) …",
                opts.label,
                fmt_elapsed(elapsed),
                fmt_elapsed(left)
            ));
            next_status = now + Duration::from_secs(1);
        }
        if !opts.live_status && now >= next_heartbeat {
            if silent >= opts.heartbeat {
                crate::note!(
                    "{} still running after {} (no output for {}; {} left)",
                    opts.label,
                    fmt_elapsed(elapsed),
                    fmt_elapsed(silent),
                    fmt_elapsed(left)
                );
            }
            next_heartbeat = now + opts.heartbeat;
        }
        // Short slices keep signal handling prompt; the wait itself wakes
        // when the child exits.
        let slice_end = opts.deadline.min(next_heartbeat).min(now + SLICE);
        match handle.wait_deadline(slice_end) {
            Ok(Some(output)) => break Some(output.status),
            Ok(None) => {}
            Err(_) => break None,
        }
    }
}

/// Stops the process group and whatever left it still carrying the tag.
fn stop_what_is_left(
    pgid: i32,
    opts: &Options,
    hurry: &dyn Fn() -> bool,
    outcome: &mut Connection,
) {
    let grace = if outcome.timed_out || outcome.interrupted.is_some() {
        opts.grace
    } else {
        // The command ended by itself: whatever it left behind gets a short
        // grace, not the full one.
        opts.grace.min(Duration::from_secs(1))
    };
    outcome.survivors = group::terminate(pgid, grace, hurry);
    if let Some(tag) = &opts.tag {
        // Still adopting while we stop them: what they leave is ours too.
        let (escaped, left) = group::stop_tagged(tag, grace.min(Duration::from_secs(1)));
        group::adopt_orphans(false);
        if escaped > 0 {
            crate::note!(
                "stopped {escaped} process(es) the suite left running outside its process group"
            );
        }
        outcome.survivors |= left;
    }
}

/// Waits for both pipes to reach EOF, but not forever: a process that left
/// the group could hold them open. Returns how many did.
fn drained(done_rx: &mpsc::Receiver<()>, hurry: &dyn Fn() -> bool) -> usize {
    let drain_until = Instant::now() + DRAIN_LIMIT;
    let mut drained = 0;
    while drained < 2 {
        if hurry() {
            break;
        }
        let left = drain_until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match done_rx.recv_timeout(left.min(SLICE)) {
            Ok(()) => drained += 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    drained
}
