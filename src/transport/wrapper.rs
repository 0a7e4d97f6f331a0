//! The provenance wrapper and the remote stop, both POSIX sh, passed inline
//! in the argv (nothing is installed on the host or in the image). See
//! wrapper.sh and stop.sh for the protocol, docs/transports.md for why.

use std::sync::LazyLock;
use std::time::Duration;

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

pub static WRAPPER: LazyLock<String> = LazyLock::new(|| minify(WRAPPER_SOURCE));
pub static STOP: LazyLock<String> = LazyLock::new(|| minify(STOP_SOURCE));

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
}

/// `sh -c WRAPPER stagerun NONCE STATE LOCK DEADLINE GRACE REPORT ARGV…`
pub fn wrap(w: &Wrap, inner: Vec<String>) -> Vec<String> {
    let mut argv = vec![
        "sh".to_string(),
        "-c".into(),
        WRAPPER.clone(),
        WRAPPER_ARG0.into(),
        w.nonce.into(),
        w.state_dir.into(),
        w.lock.into(),
        secs(w.deadline),
        secs(w.grace),
        w.report.unwrap_or("").into(),
    ];
    argv.extend(inner);
    argv
}

/// `sh -c STOP stagerun-stop NONCE STATE LOCK GRACE`
pub fn stop(nonce: &str, state_dir: &str, lock: &str, grace: Duration) -> Vec<String> {
    vec![
        "sh".to_string(),
        "-c".into(),
        STOP.clone(),
        STOP_ARG0.into(),
        nonce.into(),
        state_dir.into(),
        lock.into(),
        secs(grace),
    ]
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
        assert!(WRAPPER.len() < WRAPPER_SOURCE.len());
    }
}
