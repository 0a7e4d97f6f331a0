//! The provenance wrapper and the remote stop, both POSIX sh, passed inline
//! in the argv (nothing is installed on the host or in the image). See
//! wrapper.sh and stop.sh for the protocol (both start with procs.sh),
//! docs/transports.md for why.

use std::sync::LazyLock;
use std::time::Duration;

/// The /proc helpers every remote script starts with.
const PROCS_SOURCE: &str = include_str!("procs.sh");
const WRAPPER_SOURCE: &str = include_str!("wrapper.sh");
const STOP_SOURCE: &str = include_str!("stop.sh");
pub const WRAPPER_ARG0: &str = "stagerun";
pub const STOP_ARG0: &str = "stagerun-stop";

/// The scripts without comments and indentation: they travel in every argv
/// and the log's command line.
fn minify(source: &str) -> String {
    source
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where a remote script takes the /proc helpers.
const PROCS_AT: &str = "# @procs: src/transport/procs.sh goes here\n";

/// A remote script, minified, with the /proc helpers (procs.sh) in place
/// of its `# @procs` line.
pub fn with_procs(body: &str) -> String {
    assert!(
        body.contains(PROCS_AT),
        "a remote script without its # @procs line"
    );
    minify(&body.replacen(PROCS_AT, PROCS_SOURCE, 1))
}

pub static WRAPPER: LazyLock<String> = LazyLock::new(|| with_procs(WRAPPER_SOURCE));
pub static STOP: LazyLock<String> = LazyLock::new(|| with_procs(STOP_SOURCE));

/// Seconds as the shell's `sleep` takes them.
pub fn secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}", ms / 1000)
    } else {
        format!("{:.3}", d.as_secs_f64())
    }
}

/// When the wrapper starts stopping the suite: its KILL (deadline + grace)
/// must land before our local timeout, so the remote side reports the
/// deadline while the channel still works.
pub fn remote_deadline(local: Duration, grace: Duration) -> Duration {
    let margin = (local / 20).clamp(Duration::from_secs(1), Duration::from_secs(10));
    let budget = local.saturating_sub(margin + grace);
    budget.max(local / 2).max(Duration::from_millis(100))
}

/// What the wrapper needs besides the suite's argv.
pub struct Wrap<'a> {
    pub nonce: &'a str,
    pub state_dir: &'a str,
    pub lock: &'a str,
    pub deadline: Duration,
    pub grace: Duration,
    /// A report file to remove before the suite starts (junit format).
    pub report: Option<&'a str>,
    /// What makes a run the same command (see `identity`): a later
    /// invocation with the same identity adopts it.
    pub identity: &'a str,
    /// When the run started (RFC 3339), said again to an adopter.
    pub since: &'a str,
    pub spool_limit: u64,
    pub adopt_within: Duration,
    pub lease: Duration,
}

fn sh(script: &str, arg0: &str, mode: &str, nonce: &str) -> Vec<String> {
    vec![
        "sh".to_string(),
        "-c".into(),
        script.into(),
        arg0.into(),
        mode.into(),
        nonce.into(),
    ]
}

/// `sh -c WRAPPER stagerun run NONCE STATE ITEM DEADLINE GRACE REPORT IDENTITY SINCE LIMIT KEEP LEASE ARGV…`
pub fn wrap(w: &Wrap, inner: Vec<String>) -> Vec<String> {
    let mut argv = sh(&WRAPPER, WRAPPER_ARG0, "run", w.nonce);
    argv.extend([
        w.state_dir.into(),
        w.lock.into(),
        w.deadline.as_millis().max(1).to_string(),
        secs(w.grace),
        w.report.unwrap_or("").into(),
        w.identity.into(),
        w.since.into(),
        w.spool_limit.div_ceil(1024).to_string(),
        w.adopt_within.as_secs().div_ceil(60).max(1).to_string(),
        w.lease.as_secs().max(1).to_string(),
    ]);
    argv.extend(inner);
    argv
}

/// `sh -c WRAPPER stagerun follow NONCE STATE ITEM OUT ERR LEASE`: reads on
/// from these spool offsets.
pub fn follow(
    nonce: &str,
    state_dir: &str,
    lock: &str,
    offsets: (u64, u64),
    lease: Duration,
) -> Vec<String> {
    let mut argv = sh(&WRAPPER, WRAPPER_ARG0, "follow", nonce);
    argv.extend([
        state_dir.into(),
        lock.into(),
        offsets.0.to_string(),
        offsets.1.to_string(),
        lease.as_secs().max(1).to_string(),
    ]);
    argv
}

/// `sh -c WRAPPER stagerun steps NONCE STEP…`: each step a shell command.
pub fn steps(nonce: &str, steps: Vec<String>) -> Vec<String> {
    let mut argv = sh(&WRAPPER, WRAPPER_ARG0, "steps", nonce);
    argv.extend(steps);
    argv
}

/// What makes two runs the same command: a later invocation adopts a run
/// only when this matches (the work item is the lock's own name).
pub fn identity(suite: &[String], format: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for part in suite.iter().map(String::as_str).chain([format]) {
        for b in part.bytes().chain([0]) {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
    }
    format!("{h:016x}")
}

/// `sh -c STOP stagerun-stop run NONCE STATE LOCK GRACE`
pub fn stop(nonce: &str, state_dir: &str, lock: &str, grace: Duration) -> Vec<String> {
    let mut argv = sh(&STOP, STOP_ARG0, "run", nonce);
    argv.extend([state_dir.into(), lock.into(), secs(grace)]);
    argv
}

/// `sh -c STOP stagerun-stop steps NONCE PID GROUP START`: a preflight's
/// remote command, by the pid, group and start time it said.
pub fn stop_steps(nonce: &str, who: &[String; 3]) -> Vec<String> {
    let mut argv = sh(&STOP, STOP_ARG0, "steps", nonce);
    argv.extend(who.iter().cloned());
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remote_kill_lands_before_the_local_timeout() {
        for (local, grace) in [(3, 1), (10, 5), (60, 5), (900, 5), (5, 0), (2, 5)] {
            let (l, g) = (Duration::from_secs(local), Duration::from_secs(grace));
            let d = remote_deadline(l, g);
            assert!(d > Duration::ZERO && d < l, "{local}/{grace}: {d:?}");
            if l > g * 2 + Duration::from_secs(2) {
                assert!(d + g < l, "{local}/{grace}: {d:?}");
            }
        }
        assert_eq!(
            remote_deadline(Duration::from_secs(900), Duration::from_secs(5)),
            Duration::from_secs(885)
        );
    }

    #[test]
    fn minified_scripts_keep_their_meaning() {
        assert!(!WRAPPER.contains("\n#"));
        assert!(WRAPPER.contains("@@stagerun:%s:%s@@"));
        assert!(WRAPPER.len() < PROCS_SOURCE.len() + WRAPPER_SOURCE.len());
        assert!(WRAPPER.contains("members() {") && STOP.contains("tagged() {"));
    }
}

/// The wrapper itself, run by real shells (dash, bash, busybox when
/// present) as a session leader, the way `docker exec` starts it.
#[cfg(test)]
mod shells;
