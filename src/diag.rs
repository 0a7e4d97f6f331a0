//! Everything stagerun prints goes through one writer thread per stream
//! with a bounded queue: the run never waits on a terminal, a pipe or a log
//! collector. A stalled reader cannot hold up the scan, the deadline or the
//! verdict; a closed one (EPIPE) is a quiet terminal, never a crash. Live
//! echo of the suite's output is the only thing that may be dropped (counted
//! and reported); diagnostics and results are kept.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

/// Suite output queued beyond this is dropped instead of waiting.
const ECHO_BACKLOG: usize = 4 << 20;
/// Diagnostics are never dropped unless something runs away.
const DIAG_BACKLOG: usize = 64 << 20;
/// At exit, live echo gets this long to reach a slow reader before the rest
/// is dropped; results and diagnostics are always waited for.
pub const ECHO_DRAIN: Duration = Duration::from_secs(10);
/// After the suite, its queued echo gets this long before the verdict.
const ECHO_CATCH_UP: Duration = Duration::from_secs(2);

struct Chunk {
    bytes: Vec<u8>,
    droppable: bool,
    /// The suite's output (not a status line).
    echo: bool,
}

#[derive(Default)]
struct State {
    chunks: VecDeque<Chunk>,
    queued: usize,
    closed: bool,
    in_flight: bool,
}

struct Queue {
    stream: Stream,
    state: Mutex<State>,
    cv: Condvar,
}

static QUEUES: [OnceLock<&'static Queue>; 2] = [OnceLock::new(), OnceLock::new()];
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// A transient status line is on stderr; the next output erases it first.
static STATUS_SHOWN: AtomicBool = AtomicBool::new(false);
/// The suite's echo last stopped mid-line (its output had no newline yet,
/// or the rest was dropped): our next line starts on a fresh one, so a
/// verdict never hides at the end of a suite line (`2>&1` shares a pipe).
static ECHO_MID_LINE: AtomicBool = AtomicBool::new(false);

fn queue(stream: Stream) -> &'static Queue {
    let slot = match stream {
        Stream::Out => &QUEUES[0],
        Stream::Err => &QUEUES[1],
    };
    slot.get_or_init(|| {
        let q: &'static Queue = Box::leak(Box::new(Queue {
            stream,
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
        }));
        let spawned = std::thread::Builder::new()
            .name("stagerun-writer".into())
            .spawn(move || q.run());
        if spawned.is_err() {
            // No thread, no output: better silent than blocked.
            q.lock().closed = true;
        }
        q
    })
}

fn raw_write(stream: Stream, bytes: &[u8]) -> std::io::Result<()> {
    match stream {
        Stream::Out => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()
        }
        Stream::Err => std::io::stderr().lock().write_all(bytes),
    }
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self) {
        loop {
            let chunk = {
                let mut s = self.lock();
                while s.chunks.is_empty() {
                    s = self.cv.wait(s).unwrap_or_else(|p| p.into_inner());
                }
                let c = s.chunks.pop_front();
                if let Some(c) = &c {
                    s.queued -= c.bytes.len();
                }
                s.in_flight = true;
                c
            };
            let Some(chunk) = chunk else { continue };
            if STATUS_SHOWN.swap(false, Ordering::SeqCst) {
                let _ = raw_write(Stream::Err, b"\r\x1b[2K");
            }
            if !chunk.droppable && ECHO_MID_LINE.swap(false, Ordering::SeqCst) {
                let _ = raw_write(self.stream, b"\n");
            }
            let ok = raw_write(self.stream, &chunk.bytes).is_ok();
            if chunk.echo {
                ECHO_MID_LINE.store(!chunk.bytes.ends_with(b"\n"), Ordering::SeqCst);
            }
            let mut s = self.lock();
            s.in_flight = false;
            if !ok {
                // The reader is gone: from now on this stream is a quiet terminal.
                s.closed = true;
                s.chunks.clear();
                s.queued = 0;
            }
            self.cv.notify_all();
        }
    }

    fn push(&self, bytes: Vec<u8>, droppable: bool) -> bool {
        self.push_chunk(bytes, droppable, false)
    }

    fn push_chunk(&self, bytes: Vec<u8>, droppable: bool, echo: bool) -> bool {
        let mut s = self.lock();
        if s.closed {
            return false;
        }
        let limit = if droppable {
            ECHO_BACKLOG
        } else {
            DIAG_BACKLOG
        };
        if s.queued + bytes.len() > limit {
            if droppable {
                DROPPED.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            return false;
        }
        s.queued += bytes.len();
        s.chunks.push_back(Chunk {
            bytes,
            droppable,
            echo,
        });
        self.cv.notify_all();
        true
    }

    /// Waits until everything queued is written, or `until`, or a new signal.
    fn drain(&self, until: Option<Instant>, signals_before: usize) -> bool {
        let mut s = self.lock();
        loop {
            if s.closed || (s.chunks.is_empty() && !s.in_flight) {
                return true;
            }
            if crate::signals::count() > signals_before {
                return false;
            }
            let now = Instant::now();
            let slice = match until {
                Some(u) if now >= u => return false,
                Some(u) => (u - now).min(Duration::from_millis(50)),
                None => Duration::from_millis(50),
            };
            s = self
                .cv
                .wait_timeout(s, slice)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Waits until no chunk is being written (the one a slow reader holds
    /// up must finish before our lines go to a pipe it may share).
    fn wait_idle(&self, until: Instant, signals_before: usize) {
        let mut s = self.lock();
        while s.in_flight && !s.closed {
            let now = Instant::now();
            if now >= until || crate::signals::count() > signals_before {
                return;
            }
            s = self
                .cv
                .wait_timeout(s, (until - now).min(Duration::from_millis(50)))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn drop_echo(&self) {
        let mut s = self.lock();
        let before = s.queued;
        s.chunks.retain(|c| !c.droppable);
        s.queued = s.chunks.iter().map(|c| c.bytes.len()).sum();
        DROPPED.fetch_add((before - s.queued) as u64, Ordering::Relaxed);
    }
}

/// A diagnostic or result line; never dropped.
pub fn line(stream: Stream, text: &str) {
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(b'\n');
    queue(stream).push(bytes, false);
}

/// Bytes as they are (section markers, a final JSON object); never dropped.
pub fn write(stream: Stream, bytes: &[u8]) {
    queue(stream).push(bytes.to_vec(), false);
}

/// Live echo of the suite's output: dropped (and counted) when the reader
/// lags by more than a few MiB.
pub fn echo(stream: Stream, bytes: &[u8]) {
    queue(stream).push_chunk(bytes.to_vec(), true, true);
}

/// Bytes of live echo that never reached the terminal.
pub fn echo_dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// A transient status line on an interactive stderr (erased by the next output).
pub fn status(text: &str) {
    let q = queue(Stream::Err);
    let mut bytes = b"\r\x1b[2K".to_vec();
    bytes.extend_from_slice(text.as_bytes());
    if q.push(bytes, true) {
        // Set after queueing: the writer clears it before the next chunk.
        STATUS_SHOWN.store(true, Ordering::SeqCst);
    }
}

pub fn clear_status() {
    if STATUS_SHOWN.load(Ordering::SeqCst) {
        write(Stream::Err, b"\r\x1b[2K");
        STATUS_SHOWN.store(false, Ordering::SeqCst);
    }
}

/// When the suite is over: the echo still queued gets a moment to reach a
/// slow reader, then is dropped (and counted), so the verdict lines that
/// follow are the last thing the reader sees, not buried under a backlog
/// of suite output (the log keeps the tail).
pub fn end_echo(signals_before: usize) {
    let until = Instant::now() + ECHO_CATCH_UP;
    let queues = || [Stream::Out, Stream::Err].map(|s| QUEUES[s as usize].get());
    for q in queues().into_iter().flatten() {
        if !q.drain(Some(until), signals_before) {
            q.drop_echo();
        }
    }
    let until = Instant::now() + ECHO_DRAIN;
    for q in queues().into_iter().flatten() {
        q.wait_idle(until, signals_before);
    }
}

/// At exit: live echo gets `ECHO_DRAIN`, then whatever is still queued of it
/// is dropped; diagnostics and results get as long again. The verdict is
/// recorded before this, so a reader that never reads cannot hold the
/// process forever; a new signal ends the wait at once.
pub fn finish(signals_before: usize) {
    for stream in [Stream::Out, Stream::Err] {
        let Some(q) = QUEUES[stream as usize].get() else {
            continue;
        };
        if !q.drain(Some(Instant::now() + ECHO_DRAIN), signals_before) {
            q.drop_echo();
        }
    }
    let until = Instant::now() + ECHO_DRAIN;
    for stream in [Stream::Out, Stream::Err] {
        if let Some(q) = QUEUES[stream as usize].get() {
            q.drain(Some(until), signals_before);
        }
    }
}

/// `stagerun: …` on stderr.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::diag::line($crate::diag::Stream::Err, &format!("stagerun: {}", format_args!($($arg)*)))
    };
}

/// `stagerun: warning: …` on stderr.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {
        $crate::diag::line($crate::diag::Stream::Err, &format!("stagerun: warning: {}", format_args!($($arg)*)))
    };
}

// ---- colour ---------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

static COLOR: AtomicU8 = AtomicU8::new(0);

/// Decides colour once, like clap and most tools: `--color`, then
/// CLICOLOR_FORCE, NO_COLOR, CLICOLOR=0, then whether stderr is a terminal.
pub fn set_color(choice: ColorChoice) {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let on = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            if env("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
                true
            } else if env("NO_COLOR").is_some()
                || env("CLICOLOR").is_some_and(|v| v == "0")
                || std::env::var("TERM").as_deref() == Ok("dumb")
            {
                false
            } else {
                std::io::stderr().is_terminal()
            }
        }
    };
    COLOR.store(if on { 2 } else { 1 }, Ordering::SeqCst);
}

pub fn color() -> bool {
    match COLOR.load(Ordering::SeqCst) {
        0 => {
            set_color(ColorChoice::Auto);
            color()
        }
        v => v == 2,
    }
}

pub fn paint(text: &str, style: anstyle::Style) -> String {
    if color() {
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_string()
    }
}

pub fn is_ci() -> bool {
    [
        "CI",
        "GITHUB_ACTIONS",
        "GITLAB_CI",
        "BUILDKITE",
        "JENKINS_URL",
        "TEAMCITY_VERSION",
    ]
    .iter()
    .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty() && v != "false"))
}

/// A live status line makes sense only for a person at a terminal.
pub fn live_status() -> bool {
    std::io::stderr().is_terminal() && !is_ci() && std::env::var("TERM").as_deref() != Ok("dumb")
}
