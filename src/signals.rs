//! Signals that end a run are recorded, not acted on in the handler: every
//! wait in stagerun polls `count()` and ends promptly (first signal: TERM,
//! the grace period, KILL; a second signal: KILL at once). Every signal
//! whose default would kill stagerun on the spot, leaving the suite running
//! and the verdict unrecorded (USR1, ALRM, XCPU, PWR, the real-time
//! signals…), is treated as an interrupt too. XFSZ (a file-size limit)
//! gets a handler that does nothing, so the write fails with EFBIG and is
//! handled as a write error instead of killing us; a handler, unlike
//! SIG_IGN, is not inherited by the suite.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNT: AtomicUsize = AtomicUsize::new(0);
static LAST: AtomicI32 = AtomicI32::new(0);
static INSTALLED: OnceLock<()> = OnceLock::new();

const INTERRUPTS: [i32; 14] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGXCPU,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGPWR,
    libc::SIGSTKFLT,
    libc::SIGSYS,
    libc::SIGTRAP,
];

/// Every signal treated as an interrupt: the list above and the real-time
/// signals the C library leaves to applications.
fn interrupts() -> impl Iterator<Item = i32> {
    INTERRUPTS
        .into_iter()
        .chain(libc::SIGRTMIN()..=libc::SIGRTMAX())
}

extern "C" fn interrupted(sig: libc::c_int) {
    LAST.store(sig, Ordering::SeqCst);
    COUNT.fetch_add(1, Ordering::SeqCst);
}

extern "C" fn nothing(_: libc::c_int) {}

/// One `sigaction` per signal: signal-hook's registry copied its table on
/// every registration, ~40 % of a short run's user-space instructions for
/// the 46 signals here (docs/performance.md). Nothing else in stagerun
/// handles these signals, so there is no earlier handler to chain to.
fn handle(sig: libc::c_int, handler: extern "C" fn(libc::c_int)) -> std::io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid empty one; the handlers only
    // touch atomics, which is async-signal-safe. SA_RESTART as before: an
    // interrupted read or write goes on, and every wait polls `count()`.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(sig, &action, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

pub fn install() -> std::io::Result<()> {
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    for sig in interrupts() {
        handle(sig, interrupted)?;
    }
    handle(libc::SIGXFSZ, nothing)?;
    let _ = INSTALLED.set(());
    Ok(())
}

pub fn count() -> usize {
    COUNT.load(Ordering::SeqCst)
}

pub fn last() -> Option<i32> {
    match LAST.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

pub fn name(sig: i32) -> String {
    signal_hook::low_level::signal_name(sig)
        .map(str::to_string)
        .unwrap_or_else(|| format!("signal {sig}"))
}

/// Accepts `9`, `KILL` or `SIGKILL`.
pub fn parse(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (n > 0 && n < 65).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    (1..65).find(|n| signal_hook::low_level::signal_name(*n) == Some(full.as_str()))
}

/// Sleeps up to `d`; false when a signal arrived (now or before the call
/// but after `since`).
pub fn sleep_unless_signalled(d: Duration, since: usize) -> bool {
    let until = Instant::now() + d;
    loop {
        if count() > since {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10).min(until - now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("9"), Some(9));
        assert_eq!(parse("KILL"), Some(libc::SIGKILL));
        assert_eq!(parse("sigterm"), Some(libc::SIGTERM));
        assert_eq!(parse("nope"), None);
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
    }
}
