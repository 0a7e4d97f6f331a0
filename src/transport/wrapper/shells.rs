//! The remote scripts run by real shells: dash, bash, busybox ash (when
//! installed) and a busybox-only PATH, each as a session leader the way
//! `docker exec` starts them. The channel is a pair of pipes here; a lost
//! channel is those pipes closed under the follower.

mod harness;

use super::*;
use harness::*;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn status_markers_and_the_spool_in_every_shell() {
    for shell in shells() {
        let t = tempfile::tempdir().unwrap();
        let spec = Spec::new(t.path());
        let suite = [
            "sh",
            "-c",
            "echo C1 PASS; echo warn >&2; printf partial; exit 3",
        ];
        let (code, out, err) =
            Running::start(&shell, &spec.argv(&suite)).finish(Duration::from_secs(10));
        assert_eq!(code, Some(0), "{shell:?}: {out} {err}");
        let n = &spec.nonce;
        assert!(
            out.starts_with(&format!("@@stagerun:{n}:start:session@@")),
            "{shell:?}: {out:?}"
        );
        assert!(
            out.ends_with(&format!("@@stagerun:{n}:end:3:ok:none:-@@")),
            "{shell:?}: {out:?}"
        );
        assert_eq!(unmarked(&out, n), "C1 PASS\npartial", "{shell:?}");
        assert_eq!(unmarked(&err, n), "warn\n", "{shell:?}");
        assert!(
            out.contains(&format!("@@stagerun:{n}:at:15@@")),
            "{shell:?}: {out}"
        );
        assert!(
            !lock(t.path()).exists(),
            "{shell:?}: the receipt removes the lock and spool"
        );
    }
}

#[test]
fn the_deadline_stops_a_suite_that_ignores_term_in_every_shell() {
    for shell in shells() {
        let t = tempfile::tempdir().unwrap();
        let mut spec = Spec::new(t.path());
        spec.deadline = "500";
        let start = Instant::now();
        let suite = ["sh", "-c", "trap '' TERM; sleep 30 & wait"];
        let (_, out, _) =
            Running::start(&shell, &spec.argv(&suite)).finish(Duration::from_secs(10));
        assert!(start.elapsed() < Duration::from_secs(6), "{shell:?}");
        assert!(out.contains(":deadline:none:-@@"), "{shell:?}: {out}");
    }
}

/// The grace timer started at the deadline is cancelled once the suite
/// is gone: nothing of the wrapper outlives it.
#[test]
fn the_grace_timer_does_not_outlive_the_run() {
    for (i, shell) in shells().into_iter().enumerate() {
        let t = tempfile::tempdir().unwrap();
        let grace = format!("4.{}{}", std::process::id() % 97, i);
        let mut spec = Spec::new(t.path());
        spec.deadline = "300";
        spec.grace = &grace;
        let start = Instant::now();
        let (_, out, _) =
            Running::start(&shell, &spec.argv(&["sleep", "30"])).finish(Duration::from_secs(10));
        assert!(out.contains(":deadline:none:-@@"), "{shell:?}: {out}");
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{shell:?}: something held the end for the whole grace ({:?})",
            start.elapsed()
        );
        assert_eq!(
            processes_with(&format!("sleep {grace}")),
            0,
            "{shell:?}: the grace timer is still running"
        );
    }
}

/// A daemon that left the suite's session (setsid twice) still carries the
/// run's tag in its environment: the supervisor stops it too, also where
/// only busybox reads /proc/PID/environ (its grep stops at a NUL).
#[test]
fn a_daemon_that_left_the_suites_session_is_stopped() {
    for (i, shell) in shells().into_iter().enumerate() {
        let t = tempfile::tempdir().unwrap();
        let marker = format!("77.{}{}", std::process::id() % 89, i);
        let daemon = format!("setsid sleep {marker} > /dev/null 2>&1 < /dev/null & exit 0");
        let spec = Spec::new(t.path());
        let (_, out, _) = Running::start(&shell, &spec.argv(&["sh", "-c", &daemon]))
            .finish(Duration::from_secs(10));
        assert!(out.contains(":end:0:ok:none:-@@"), "{shell:?}: {out}");
        assert_eq!(
            processes_with(&format!("sleep {marker}")),
            0,
            "{shell:?}: the daemon outlived the run: {out}"
        );
    }
}

/// The channel lost mid-suite: the suite goes on; a follow from the offsets
/// already read gives the rest, every byte once, and the same end.
#[test]
fn a_follow_reads_on_from_the_offsets_after_the_channel_is_lost() {
    for shell in shells() {
        let t = tempfile::tempdir().unwrap();
        let spec = Spec::new(t.path());
        let starts = t.path().join("starts");
        let suite = format!(
            "echo started >> {}; i=1; while [ $i -le 8 ]; do echo \"line $i\"; echo \"err $i\" >&2; sleep 0.2; i=$((i+1)); done",
            starts.display()
        );
        let first = Running::start(&shell, &spec.argv(&["sh", "-c", &suite]));
        assert!(
            first.wait_for("line 3", Duration::from_secs(10)),
            "{shell:?}"
        );
        let seen_out = first.stdout();
        let seen_err = first.stderr();
        let start = Instant::now();
        first.lose_channel();
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{shell:?}: the follower lingered after the channel went"
        );
        let offset = |text: &str| {
            text.rsplit(":at:")
                .next()
                .and_then(|t| t.split("@@").next())
                .and_then(|p| p.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let (o, e) = (offset(&seen_out), offset(&seen_err));
        let follow = follow(
            &spec.nonce,
            &t.path().display().to_string(),
            "ORCH-1",
            (o, e),
            Duration::from_secs(30),
        );
        let (code, out, err) = Running::start(&shell, &follow).finish(Duration::from_secs(10));
        assert_eq!(code, Some(0), "{shell:?}: {out} {err}");
        assert!(
            out.contains(&format!(":resume:{o}:{e}@@")),
            "{shell:?}: {out}"
        );
        let cut = |text: &str, at: u64| {
            let all = unmarked(text, &spec.nonce);
            all.as_bytes()[..at as usize].to_vec()
        };
        let mut whole = cut(&seen_out, o);
        whole.extend(unmarked(&out, &spec.nonce).into_bytes());
        let expected: String = (1..=8).map(|i| format!("line {i}\n")).collect();
        assert_eq!(
            String::from_utf8_lossy(&whole),
            expected,
            "{shell:?}: every byte once"
        );
        let mut whole_err = cut(&seen_err, e);
        whole_err.extend(unmarked(&err, &spec.nonce).into_bytes());
        let expected_err: String = (1..=8).map(|i| format!("err {i}\n")).collect();
        assert_eq!(
            String::from_utf8_lossy(&whole_err),
            expected_err,
            "{shell:?}"
        );
        assert_eq!(
            std::fs::read_to_string(&starts).unwrap(),
            "started\n",
            "{shell:?}: one start"
        );
        assert!(!lock(t.path()).exists(), "{shell:?}");
    }
}

/// The runner gone (its follower left), the same command run again adopts
/// the run: all of its output from the first byte, its own end, one start.
/// Another command, or the same one while a follower is attached, is busy.
#[test]
fn the_same_command_adopts_an_unattended_run_and_another_is_busy() {
    for shell in shells() {
        let t = tempfile::tempdir().unwrap();
        let starts = t.path().join("starts");
        let suite = format!(
            "echo started >> {}; for i in 1 2 3 4 5; do echo \"C$i PASS\"; sleep 1; done",
            starts.display()
        );
        let suite = ["sh", "-c", suite.as_str()];
        let spec = Spec::new(t.path());
        let first = Running::start(&shell, &spec.argv(&suite));
        assert!(
            first.wait_for("C1 PASS", Duration::from_secs(10)),
            "{shell:?}"
        );
        // A follower is attached: the same command is busy too.
        let mut again = Spec::new(t.path());
        again.nonce = crate::capture::markers::nonce();
        let (code, out, _) =
            Running::start(&shell, &again.argv(&suite)).finish(Duration::from_secs(5));
        assert_eq!(code, Some(75), "{shell:?}: {out}");
        assert!(
            out.contains(&format!(":busy:{}@@", spec.nonce)),
            "{shell:?}: {out}"
        );
        first.lose_channel();
        let mut other = Spec::new(t.path());
        other.nonce = crate::capture::markers::nonce();
        other.identity = "another-command";
        let (code, out, _) =
            Running::start(&shell, &other.argv(&suite)).finish(Duration::from_secs(5));
        assert_eq!(code, Some(75), "{shell:?}: another command: {out}");
        let (code, out, _) =
            Running::start(&shell, &again.argv(&suite)).finish(Duration::from_secs(10));
        assert_eq!(code, Some(0), "{shell:?}: {out}");
        assert!(
            out.starts_with(&format!(
                "@@stagerun:{}:adopt:{}:2026-12-03T10:00:00Z@@",
                again.nonce, spec.nonce
            )),
            "{shell:?}: {out}"
        );
        assert!(
            out.ends_with(&format!("@@stagerun:{}:end:0:ok:none:-@@", spec.nonce)),
            "{shell:?}: {out}"
        );
        let text = unmarked(&out, &again.nonce);
        let text = unmarked(&text, &spec.nonce);
        assert_eq!(
            text, "C1 PASS\nC2 PASS\nC3 PASS\nC4 PASS\nC5 PASS\n",
            "{shell:?}"
        );
        assert_eq!(
            std::fs::read_to_string(&starts).unwrap(),
            "started\n",
            "{shell:?}"
        );
    }
}

/// An end nobody collected is adopted by the same command later, removed
/// for another; a supervisor gone without an end is a lost run.
#[test]
fn uncollected_ends_and_lost_runs() {
    let shell = &shells()[0];
    let t = tempfile::tempdir().unwrap();
    let spec = Spec::new(t.path());
    let first = Running::start(shell, &spec.argv(&["sh", "-c", "echo C1 FAIL; exit 1"]));
    assert!(first.wait_for(":end:", Duration::from_secs(10)));
    first.lose_channel();
    assert!(
        lock(t.path()).join("status").exists(),
        "no receipt: the end stays"
    );
    let mut again = Spec::new(t.path());
    again.nonce = crate::capture::markers::nonce();
    let (_, out, _) =
        Running::start(shell, &again.argv(&["sh", "-c", "exit 9"])).finish(Duration::from_secs(10));
    assert!(
        out.contains(":adopt:") && out.contains(":end:1:ok:none:-@@"),
        "{out}"
    );
    assert!(unmarked(&unmarked(&out, &again.nonce), &spec.nonce).contains("C1 FAIL"));
    // A lost run: an owner whose supervisor is gone, no end.
    std::fs::create_dir_all(lock(t.path())).unwrap();
    std::fs::write(
        lock(t.path()).join("owner"),
        "ffffffffffffffffffffffffffffffff 999999 1 same-command 2026-12-01T00:00:00Z\n",
    )
    .unwrap();
    std::fs::write(lock(t.path()).join("out"), "").unwrap();
    std::fs::write(lock(t.path()).join("err"), "").unwrap();
    let gone = follow(
        "ffffffffffffffffffffffffffffffff",
        &t.path().display().to_string(),
        "ORCH-1",
        (0, 0),
        Duration::from_secs(30),
    );
    let (_, out, _) = Running::start(shell, &gone).finish(Duration::from_secs(5));
    assert!(out.contains(":gone:lost@@"), "{out}");
    let mut third = Spec::new(t.path());
    third.nonce = crate::capture::markers::nonce();
    let (_, out, _) = Running::start(shell, &third.argv(&["true"])).finish(Duration::from_secs(10));
    assert!(
        out.contains(":note:lost:ffffffffffffffffffffffffffffffff:2026-12-01T00:00:00Z@@"),
        "{out}"
    );
    assert!(out.contains(":end:0:ok:none:-@@"), "{out}");
}

#[test]
fn a_report_that_cannot_be_removed_refuses_the_start() {
    for shell in shells() {
        let t = tempfile::tempdir().unwrap();
        let report = t.path().join("report.xml");
        // A folder in its place: rm -f cannot remove it (as root, nothing else can be made to fail).
        std::fs::create_dir_all(report.join("inside")).unwrap();
        let report = report.display().to_string();
        let starts = t.path().join("starts");
        let mut spec = Spec::new(t.path());
        spec.report = &report;
        let suite = format!("echo started > {}", starts.display());
        let (_, out, _) = Running::start(&shell, &spec.argv(&["sh", "-c", &suite]))
            .finish(Duration::from_secs(5));
        assert!(
            out.contains(&format!(
                ":refused:the suite's report {report} is left from an earlier run"
            )),
            "{shell:?}: {out}"
        );
        assert!(!starts.exists(), "{shell:?}: the suite did not start");
        assert!(!lock(t.path()).exists(), "{shell:?}");
        // Removable: the end says whether the suite wrote it.
        std::fs::remove_dir_all(t.path().join("report.xml")).unwrap();
        std::fs::write(t.path().join("report.xml"), "old").unwrap();
        let (_, out, _) =
            Running::start(&shell, &spec.argv(&["true"])).finish(Duration::from_secs(5));
        assert!(out.contains(":end:0:ok:none:absent@@"), "{shell:?}: {out}");
        let write = format!("echo new > {report}");
        let (_, out, _) = Running::start(&shell, &spec.argv(&["sh", "-c", &write]))
            .finish(Duration::from_secs(5));
        assert!(out.contains(":end:0:ok:none:written@@"), "{shell:?}: {out}");
    }
}

#[test]
fn a_spool_past_its_cap_is_cut_and_said() {
    let shell = &shells()[0];
    let t = tempfile::tempdir().unwrap();
    let mut spec = Spec::new(t.path());
    spec.limit_kib = "4";
    let suite = [
        "sh",
        "-c",
        "i=0; while [ $i -lt 300 ]; do echo 0123456789012345678901234567890123456789; i=$((i+1)); done; sleep 2.5; echo after",
    ];
    let (_, out, _) = Running::start(shell, &spec.argv(&suite)).finish(Duration::from_secs(10));
    assert!(
        out.contains(&format!("@@stagerun:{}:cut@@", spec.nonce)),
        "{out}"
    );
    assert!(
        !unmarked(&out, &spec.nonce).contains("after"),
        "nothing of the stream after the cut"
    );
}

/// Without setsid the suite runs in the wrapper's group; the supervisor
/// stops it and its tagged children by pid, not by group.
#[test]
fn without_setsid_the_group_mode_stops_the_suite_and_its_children() {
    let Some(shell) = without_setsid() else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let mut spec = Spec::new(t.path());
    spec.deadline = "500";
    let marker = format!("66.{}", std::process::id() % 97);
    let suite = format!("sleep {marker} & sleep {marker}");
    let (_, out, _) =
        Running::start(&shell, &spec.argv(&["sh", "-c", &suite])).finish(Duration::from_secs(10));
    assert!(
        out.contains(":start:group@@") && out.contains(":deadline:none:-@@"),
        "{out}"
    );
    assert_eq!(processes_with(&format!("sleep {marker}")), 0);
}

#[test]
fn a_held_lock_is_busy_and_a_stale_one_is_taken_over() {
    let t = tempfile::tempdir().unwrap();
    let lock = lock(t.path());
    std::fs::create_dir(&lock).unwrap();
    // Held by a live process (this test's own pid and start time).
    let me = std::process::id();
    let start = crate::process::group::start_time(me as i32).unwrap();
    std::fs::write(
        lock.join("owner"),
        format!("ffffffffffffffffffffffffffffffff {me} {start} another 2026-12-03T09:00:00Z\n"),
    )
    .unwrap();
    let spec = Spec::new(t.path());
    let (code, out, _) =
        Running::start(&shells()[0], &spec.argv(&["true"])).finish(Duration::from_secs(5));
    assert_eq!(code, Some(75));
    assert!(
        out.contains(":busy:ffffffffffffffffffffffffffffffff@@"),
        "{out}"
    );
    // Held by processes that are gone: taken over, and said.
    std::fs::write(
        lock.join("owner"),
        "ffffffffffffffffffffffffffffffff 999999 1 another 2026-12-03T09:00:00Z\n",
    )
    .unwrap();
    let (_, out, _) =
        Running::start(&shells()[0], &spec.argv(&["true"])).finish(Duration::from_secs(5));
    assert!(
        out.contains(":note:lost:") && out.contains(":end:0:ok:none:-@@"),
        "{out}"
    );
}

#[test]
fn stop_confirms_and_says_not_running_for_other_nonces() {
    for shell in shells() {
        let t = tempfile::tempdir().unwrap();
        let spec = Spec::new(t.path());
        let marker = format!("55.{}", std::process::id() % 97);
        let suite = format!("trap '' TERM; sleep {marker} & sleep {marker}");
        let run = Running::start(&shell, &spec.argv(&["sh", "-c", &suite]));
        assert!(run.wait_for(":start:", Duration::from_secs(5)), "{shell:?}");
        let watcher = lock(t.path()).join("supervisor");
        let until = Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(&watcher)
            .unwrap_or_default()
            .split_whitespace()
            .count()
            < 3
        {
            assert!(
                Instant::now() < until,
                "{shell:?}: the supervisor never said who it is"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let stop_with = |nonce: &str| {
            let argv = stop(
                nonce,
                &t.path().display().to_string(),
                "ORCH-1",
                Duration::from_secs(1),
            );
            let mut cmd = Command::new(&shell.argv[0]);
            cmd.args(&shell.argv[1..]).args(&argv[1..]);
            if let Some(p) = &shell.path {
                cmd.env("PATH", p);
            }
            String::from_utf8_lossy(&cmd.output().unwrap().stdout).into_owned()
        };
        assert!(stop_with("ffffffffffffffffffffffffffffffff").contains(":stopped:not-running@@"));
        let said = stop_with(&spec.nonce);
        assert!(said.contains(":stopped:confirmed@@"), "{shell:?}: {said}");
        let _ = run.finish(Duration::from_secs(2));
        assert!(!lock(t.path()).exists(), "{shell:?}");
        assert_eq!(processes_with(&format!("sleep {marker}")), 0, "{shell:?}");
    }
}
