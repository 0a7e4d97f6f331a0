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
        assert!(WRAPPER.len() < PROCS_SOURCE.len() + WRAPPER_SOURCE.len());
        assert!(WRAPPER.contains("mem() {") && STOP.contains("esc() {"));
    }
}

/// The wrapper itself, run by real shells (dash, bash, busybox when
/// present) as a session leader, the way `docker exec` starts it.
#[cfg(test)]
mod shells {
    use super::*;
    use std::process::Command;

    thread_local! {
        // Unique per test: the wrapper stops whatever carries its nonce, and
        // the tests run side by side.
        static NONCE: String = crate::capture::markers::nonce();
    }

    fn nonce() -> String {
        NONCE.with(|n| n.clone())
    }

    fn shells() -> Vec<Vec<String>> {
        let mut all = vec![vec!["dash".to_string()], vec!["bash".to_string()]];
        if Command::new("busybox").arg("true").output().is_ok() {
            all.push(vec!["busybox".into(), "sh".into()]);
        }
        all
    }

    fn run(
        shell: &[String],
        state: &std::path::Path,
        deadline: &str,
        suite: &[&str],
    ) -> (Option<i32>, String, String) {
        run_with_grace(shell, state, deadline, "1", suite)
    }

    fn run_with_grace(
        shell: &[String],
        state: &std::path::Path,
        deadline: &str,
        grace: &str,
        suite: &[&str],
    ) -> (Option<i32>, String, String) {
        let mut argv = vec!["setsid".to_string()];
        argv.extend(shell.iter().cloned());
        argv.extend([
            "-c".into(),
            WRAPPER.clone(),
            WRAPPER_ARG0.into(),
            nonce(),
            state.display().to_string(),
            "ORCH-1".into(),
            deadline.into(),
            grace.into(),
            String::new(),
        ]);
        argv.extend(suite.iter().map(|s| s.to_string()));
        let out = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn status_markers_and_deadline_in_every_shell() {
        for shell in shells() {
            let t = tempfile::tempdir().unwrap();
            let (code, out, err) = run(
                &shell,
                t.path(),
                "30",
                &["sh", "-c", "echo C1 PASS; printf partial; exit 3"],
            );
            assert_eq!(code, Some(3), "{shell:?}: {err}");
            assert!(
                out.starts_with(&format!(
                    "@@stagerun:{n}:start:session@@\nC1 PASS\npartial@@stagerun:{n}:end:3:ok:none@@",
                    n = nonce()
                )),
                "{shell:?}: {out:?}"
            );
            assert!(err.contains(&format!("@@stagerun:{}:end:3:ok:none@@", nonce())));
            assert!(
                !t.path().join("ORCH-1.lock").exists(),
                "the lock is released"
            );
            // The deadline, with a child that ignores TERM: KILL after the grace.
            let start = std::time::Instant::now();
            let (code, out, _) = run(
                &shell,
                t.path(),
                "0.5",
                &["sh", "-c", "trap '' TERM; sleep 30 & wait"],
            );
            assert!(
                start.elapsed() < std::time::Duration::from_secs(5),
                "{shell:?}"
            );
            assert!(
                out.contains(":end:") && out.contains(":deadline:none@@"),
                "{shell:?} {code:?}: {out}"
            );
        }
    }

    /// The grace timer started at the deadline is cancelled once the suite
    /// is gone: nothing of the wrapper outlives it.
    #[test]
    fn the_grace_timer_does_not_outlive_the_wrapper() {
        let sleeping = |arg: &str| {
            std::fs::read_dir("/proc")
                .unwrap()
                .flatten()
                .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
                .filter(|c| c.starts_with(b"sleep\0") && c.ends_with(format!("{arg}\0").as_bytes()))
                .count()
        };
        for (i, shell) in shells().into_iter().enumerate() {
            let t = tempfile::tempdir().unwrap();
            let grace = format!("4.{}{}", std::process::id() % 97, i);
            let start = std::time::Instant::now();
            // The output ends when the last holder of the pipe is gone.
            let (_, out, _) = run_with_grace(&shell, t.path(), "0.3", &grace, &["sleep", "30"]);
            assert!(out.contains(":deadline:none@@"), "{shell:?}: {out}");
            assert!(
                start.elapsed() < std::time::Duration::from_secs(3),
                "{shell:?}: something held the output for the whole grace ({:?})",
                start.elapsed()
            );
            assert_eq!(
                sleeping(&grace),
                0,
                "{shell:?}: the grace timer is still running"
            );
        }
    }

    /// A daemon that left the suite's session (setsid twice) still carries
    /// the attempt's tag in its environment: the wrapper stops it too.
    #[test]
    fn a_daemon_that_left_the_suites_session_is_stopped() {
        for (i, shell) in shells().into_iter().enumerate() {
            let t = tempfile::tempdir().unwrap();
            let marker = format!("77.{}{}", std::process::id() % 89, i);
            let daemon = format!("setsid sleep {marker} > /dev/null 2>&1 < /dev/null & exit 0");
            let (code, out, _) = run(&shell, t.path(), "30", &["sh", "-c", &daemon]);
            assert_eq!(code, Some(0), "{shell:?}: {out}");
            let left = std::fs::read_dir("/proc")
                .unwrap()
                .flatten()
                .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
                .filter(|c| {
                    c.starts_with(b"sleep\0") && c.ends_with(format!("{marker}\0").as_bytes())
                })
                .count();
            assert_eq!(left, 0, "{shell:?}: the daemon outlived the run: {out}");
        }
    }

    #[test]
    fn a_held_lock_is_busy_and_a_stale_one_is_taken_over() {
        let t = tempfile::tempdir().unwrap();
        let lock = t.path().join("ORCH-1.lock");
        std::fs::create_dir(&lock).unwrap();
        // Held by a live process (this test's own pid and start time).
        let me = std::process::id();
        let start = crate::process::group::start_time(me as i32).unwrap();
        std::fs::write(
            lock.join("owner"),
            format!("ffffffffffffffffffffffffffffffff {me} {start} {me}\n"),
        )
        .unwrap();
        let (code, out, _) = run(&shells()[0], t.path(), "30", &["true"]);
        assert_eq!(code, Some(75));
        assert!(
            out.contains(":busy:ffffffffffffffffffffffffffffffff@@"),
            "{out}"
        );
        // Held by processes that are gone: taken over.
        std::fs::write(
            lock.join("owner"),
            "ffffffffffffffffffffffffffffffff 999999 1 999998\n",
        )
        .unwrap();
        let (code, out, _) = run(&shells()[0], t.path(), "30", &["true"]);
        assert_eq!(code, Some(0), "{out}");
    }

    #[test]
    fn stop_confirms_and_says_not_running_for_other_nonces() {
        let t = tempfile::tempdir().unwrap();
        let mut argv = vec![
            "setsid".to_string(),
            "dash".into(),
            "-c".into(),
            WRAPPER.clone(),
            WRAPPER_ARG0.into(),
            nonce(),
            t.path().display().to_string(),
            "ORCH-1".into(),
            "60".into(),
            "1".into(),
            String::new(),
        ];
        argv.extend([
            "sh".into(),
            "-c".into(),
            "trap '' TERM; sleep 60 & sleep 60".into(),
        ]);
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let owner = t.path().join("ORCH-1.lock/owner");
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::read_to_string(&owner)
            .unwrap_or_default()
            .split_whitespace()
            .count()
            < 4
        {
            assert!(std::time::Instant::now() < until);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let stop_with = |nonce: &str| {
            let mut s = vec!["dash".to_string(), "-c".into()];
            s.extend(
                stop(
                    nonce,
                    &t.path().display().to_string(),
                    "ORCH-1",
                    std::time::Duration::from_secs(1),
                )
                .into_iter()
                .skip(2),
            );
            String::from_utf8_lossy(&Command::new(&s[0]).args(&s[1..]).output().unwrap().stdout)
                .into_owned()
        };
        assert!(stop_with("ffffffffffffffffffffffffffffffff").contains(":stopped:not-running@@"));
        assert!(stop_with(&nonce()).contains(":stopped:confirmed@@"));
        let _ = child.wait();
        assert!(!t.path().join("ORCH-1.lock").exists());
    }
}
