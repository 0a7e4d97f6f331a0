//! A signal at any moment ends the run promptly with an honest record:
//! during the suite, the pipe drain, the backoff, the push, the alert; a
//! second signal skips the grace period; SIGKILL of stagerun leaves nothing
//! that the next run does not stop.

use crate::common::*;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn spawn(sb: &Sandbox, item: &std::path::Path, scenario: &str, env: &[(&str, &str)]) -> Child {
    let mut cmd = sb.run_local_std(item, scenario);
    cmd.args(["--retries", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

#[test]
fn every_signal_that_would_kill_stagerun_stops_the_suite_and_writes_an_interrupted_hold() {
    for sig in [
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGALRM,
        libc::SIGXCPU,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGPWR,
        libc::SIGRTMIN(),
        libc::SIGRTMAX(),
    ] {
        let sb = Sandbox::new();
        let item = sb.work_item(&uid("ORCH"));
        let pids_file = sb.path().join("pids");
        let pids_s = pids_file.display().to_string();
        let mut child = spawn(
            &sb,
            &item,
            "grandchild",
            &[
                ("ORCH_STAGING_RUNNER_GRACE", "1"),
                ("STAGING_CHECK_PID_FILE", &pids_s),
            ],
        );
        let pids = wait_for_pids(&pids_file, 3, Duration::from_secs(20));
        let start = Instant::now();
        signal(child.id(), sig);
        let (code, err) = wait_exit(&mut child, Duration::from_secs(15));
        assert_eq!(code, 75, "signal {sig}: {err}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "signal {sig} took {:?}",
            start.elapsed()
        );
        assert_eq!(front(&item, "staging_status").as_deref(), Some("HOLD"));
        assert_eq!(front(&item, "outcome").as_deref(), Some("interrupted"));
        assert!(
            front(&item, "reason")
                .unwrap()
                .contains("nothing of the suite was left running"),
            "{}",
            log_text(&item)
        );
        for pid in pids {
            assert!(!alive(pid), "suite pid {pid} survived signal {sig}");
        }
    }
}

#[test]
fn second_signal_kills_at_once_without_waiting_for_the_grace_period() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let pids_file = sb.path().join("pids");
    let pids_s = pids_file.display().to_string();
    let mut child = spawn(
        &sb,
        &item,
        "grandchild",
        &[
            ("ORCH_STAGING_RUNNER_GRACE", "60"),
            ("STAGING_CHECK_PID_FILE", &pids_s),
        ],
    );
    let pids = wait_for_pids(&pids_file, 3, Duration::from_secs(20));
    let start = Instant::now();
    signal(child.id(), libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    signal(child.id(), libc::SIGTERM);
    let (code, err) = wait_exit(&mut child, Duration::from_secs(20));
    assert_eq!(code, 75, "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(front(&item, "outcome").as_deref(), Some("interrupted"));
    for pid in pids {
        assert!(!alive(pid), "pid {pid} survived");
    }
}

#[test]
fn a_signal_during_the_backoff_ends_the_run_at_once() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let script = sb.write("exit5.py", "import sys\nsys.exit(5)\n");
    let mut child = sb
        .run_local_std(&item, "pass")
        .arg("--check-script")
        .arg(&script)
        .args(["--retries", "3"])
        .env("ORCH_STAGING_RUNNER_BACKOFF_BASE", "30")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let start = Instant::now();
    signal(child.id(), libc::SIGTERM);
    let (code, err) = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(code, 75, "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(front(&item, "outcome").as_deref(), Some("interrupted"));
    assert_eq!(attempts(&item), 1);
}

#[test]
fn a_signal_while_an_escaped_process_holds_the_pipes_ends_the_run_at_once() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    // The suite passes, but leaves a process in a new session holding its stdout.
    let script = sb.write(
        "escape.py",
        "import os, subprocess\nprint('C1 PASS ok', flush=True)\nsubprocess.Popen(['setsid', 'sleep', '30'])\n",
    );
    let mut child = sb
        .run_local_std(&item, "pass")
        .arg("--check-script")
        .arg(&script)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let start = Instant::now();
    signal(child.id(), libc::SIGTERM);
    let (code, err) = wait_exit(&mut child, Duration::from_secs(10));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}: {err}",
        start.elapsed()
    );
    assert!(code == 75 || code == 0, "{code}: {err}");
    let _ = std::process::Command::new("pkill")
        .args(["-f", "^sleep 30$"])
        .status();
}

#[test]
fn a_signal_during_the_alert_hook_or_a_blocked_summary_ends_the_run_promptly() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let fifo = sb.path().join("summary.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let fifo_s = fifo.display().to_string();
    let mut child = spawn(
        &sb,
        &item,
        "silent",
        &[
            ("ORCH_STAGING_RUNNER_ALERT_COMMAND", "sleep 60"),
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", &fifo_s),
        ],
    );
    // The verdict (HOLD) is recorded, then the alert hook hangs.
    let until = Instant::now() + Duration::from_secs(20);
    while !item.join("15-staging-log.md").exists() {
        assert!(Instant::now() < until);
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    signal(child.id(), libc::SIGTERM);
    let (code, err) = wait_exit(&mut child, Duration::from_secs(20));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}: {err}",
        start.elapsed()
    );
    assert_eq!(code, 75, "{err}");
    assert!(
        err.contains("GITHUB_STEP_SUMMARY is not a regular file"),
        "{err}"
    );
    assert_eq!(
        front(&item, "rule").as_deref(),
        Some("suite-no-evidence"),
        "the verdict recorded before the signal stands"
    );
}

#[test]
fn sigkill_of_stagerun_kills_the_suite_and_the_next_run_stops_what_is_left() {
    let sb = Sandbox::new();
    let id = uid("ORCH");
    let item = sb.work_item(&id);
    let pids_file = sb.path().join("pids");
    let pids_s = pids_file.display().to_string();
    let mut child = spawn(
        &sb,
        &item,
        "grandchild",
        &[("STAGING_CHECK_PID_FILE", &pids_s)],
    );
    let pids = wait_for_pids(&pids_file, 3, Duration::from_secs(20));
    signal(child.id(), libc::SIGKILL);
    let _ = child.wait();
    // The suite's own process dies with stagerun (its parent death signal).
    std::thread::sleep(Duration::from_millis(300));
    assert!(!alive(pids[0]), "the suite outlived its runner");
    // Its TERM-ignoring child and grandchild are found and stopped by the next run.
    let out = sb
        .run_local(&item, "pass")
        .arg("--json")
        .assert()
        .code(0)
        .get_output()
        .clone();
    let v = json(&out.stdout);
    assert!(
        v["recovered"]
            .as_str()
            .unwrap_or("")
            .contains("stopped its local process group"),
        "{v}"
    );
    for pid in &pids {
        assert!(!alive(*pid), "pid {pid} survived into the next run");
    }
}

/// A file-size limit (`ulimit -f`) must not kill stagerun with SIGXFSZ
/// mid-write: the write fails, the verdict is marked unrecorded, the
/// gate reads HOLD, and --json still prints its object.
#[test]
fn a_file_size_limit_is_an_unrecorded_hold_not_a_death_by_sigxfsz() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    sb.run_local(&item, "pass").assert().code(0);
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -f 1 && exec \"$0\" \"$@\"")
        .arg(bin())
        .args(["run"])
        .arg(&item)
        .args([
            "--repo",
            "orch-core",
            "--transport",
            "local",
            "--no-push",
            "--json",
        ])
        .env("ORCH_STAGING_RUNNER_CHECK_SCRIPT", check_script())
        .env("STAGING_CHECK_SCENARIO", "fail")
        .env("STAGING_CHECK_PAD", "x".repeat(4000))
        .current_dir(sb.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}");
    let v = json(&out.stdout);
    assert_eq!(v["verdict"], "HOLD", "{v}");
    assert_eq!(v["outcome"], "unrecorded", "{v}");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("FAILED could not be recorded"),
        "{v}"
    );
    stagerun(sb.path()).arg("gate").arg(&item).assert().code(75);
}
