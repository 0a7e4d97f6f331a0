//! `stagerun run` on the local transport: every verdict path, supervision,
//! the log and exit codes.

use crate::common::*;
use predicates::prelude::*;
use std::time::{Duration, Instant};

#[test]
fn passing_suite_is_success_with_a_full_log() {
    let sb = Sandbox::new();
    let id = uid("ORCH");
    let item = sb.work_item(&id);
    sb.run_local(&item, "pass").assert().code(0);
    let log = log_text(&item);
    assert_eq!(
        log.lines()
            .filter(|l| l.starts_with("staging_status:"))
            .count(),
        1
    );
    assert_eq!(front(&item, "staging_status").as_deref(), Some("SUCCESS"));
    assert_eq!(front(&item, "work_item").as_deref(), Some(id.as_str()));
    assert_eq!(front(&item, "repo").as_deref(), Some("orch-core"));
    assert_eq!(front(&item, "outcome").as_deref(), Some("suite-ran"));
    assert_eq!(front(&item, "rule").as_deref(), Some("suite-passed"));
    assert_eq!(front(&item, "exit_code").as_deref(), Some("0"));
    assert_eq!(
        front(&item, "summary").as_deref(),
        Some("9/11 PASS, C9a/C9b waived")
    );
    assert!(front(&item, "started_at").unwrap().ends_with('Z'));
    assert!(
        log.contains("| C9a | WAIVED | waived: load rig unavailable in stub mode |"),
        "{log}"
    );
    assert!(log.contains("| C10 | PASS | rollback plan verified |"));
    assert!(log.contains(&format!("--work-item {id} --mode stub")));
    let leftovers: Vec<_> = std::fs::read_dir(&item)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    stagerun(sb.path()).arg("gate").arg(&item).assert().code(0);
}

#[test]
fn failing_check_is_failed_and_gate_says_so() {
    let sb = Sandbox::new();
    let id = uid("ORCH");
    let item = sb.work_item(&id);
    sb.run_local(&item, "fail").assert().code(1);
    assert_eq!(front(&item, "staging_status").as_deref(), Some("FAILED"));
    assert_eq!(front(&item, "rule").as_deref(), Some("suite-failing-check"));
    assert!(log_text(&item).contains(&format!(
        "| C4 | FAIL | database migrations applied: expected 0 pending migrations for {id}, found 2 |"
    )));
    stagerun(sb.path()).arg("gate").arg(&item).assert().code(1);
}

#[test]
fn exit_zero_with_a_fail_line_is_failed() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    sb.run_local(&item, "fail-exit0").assert().code(1);
    assert_eq!(front(&item, "staging_status").as_deref(), Some("FAILED"));
}

#[test]
fn suite_crash_is_failed_and_the_summary_says_how_far_it_got() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    sb.run_local(&item, "crash").assert().code(1);
    assert_eq!(front(&item, "rule").as_deref(), Some("suite-failed"));
    assert_eq!(front(&item, "staging_status").as_deref(), Some("FAILED"));
    assert_eq!(
        front(&item, "summary").as_deref(),
        Some("1 check passed before the suite exited 1")
    );
    assert!(log_text(&item).contains("RuntimeError: staging fixture exploded"));
    let item = sb.work_item(&uid("ORCH"));
    sb.run_local(&item, "exit3").assert().code(1);
    assert_eq!(
        front(&item, "summary").as_deref(),
        Some("1 check passed before the suite exited 3")
    );
}

#[test]
fn exit_zero_without_check_lines_is_hold() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    sb.run_local(&item, "silent").assert().code(75);
    assert_eq!(front(&item, "staging_status").as_deref(), Some("HOLD"));
    assert_eq!(front(&item, "rule").as_deref(), Some("suite-no-evidence"));
}

#[test]
fn missing_script_is_permanent_hold_without_retry() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    sb.run_local(&item, "pass")
        .args(["--check-script", "/nonexistent/staging_check.py"])
        .assert()
        .code(75);
    assert_eq!(front(&item, "outcome").as_deref(), Some("permanent-env"));
    assert_eq!(
        front(&item, "rule").as_deref(),
        Some("check-script-missing")
    );
    assert_eq!(attempts(&item), 1);
}

/// The suite's patterns compile in the background and a passing run does
/// not wait for them; a crashing one must still be judged by them, even
/// when the traceback is its very first line and it exits at once.
#[test]
fn a_crash_the_instant_the_suite_starts_is_still_matched_by_its_pattern() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let crash = sb.write(
        "crash.py",
        "import sys\nsys.stderr.write('Traceback (most recent call last):\\n  boom\\n')\nsys.exit(1)\n",
    );
    sb.run_local(&item, "pass")
        .arg("--check-script")
        .arg(&crash)
        .assert()
        .code(1);
    assert_eq!(front(&item, "rule").as_deref(), Some("suite-traceback"));
}

/// A suite that dies of its environment (a missing dependency, a full
/// disk) after passing checks is HOLD, never FAILED: nothing failed.
#[test]
fn a_suite_dying_of_its_environment_is_hold_not_failed() {
    let sb = Sandbox::new();
    for (name, body, rule) in [
        (
            "imp.py",
            "print('C1 PASS ok', flush=True)\nimport requests_not_installed_xyz\n",
            "suite-module-missing",
        ),
        (
            "full.py",
            "print('C1 PASS ok', flush=True)\nwith open('/dev/full', 'w') as f:\n    f.write('report')\n",
            "suite-disk-full",
        ),
    ] {
        let item = sb.work_item(&uid("ORCH"));
        let script = sb.write(name, body);
        sb.run_local(&item, "pass")
            .arg("--check-script")
            .arg(&script)
            .arg("--retries")
            .arg("0")
            .assert()
            .code(75);
        assert_eq!(front(&item, "rule").as_deref(), Some(rule), "{name}");
        assert_eq!(front(&item, "staging_status").as_deref(), Some("HOLD"));
    }
}

/// A daemon that leaves the suite's process group (its own session) is
/// still the suite's: it is stopped when the run ends, and said.
#[test]
fn a_daemon_the_suite_started_in_its_own_session_does_not_outlive_the_run() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let marker = format!("66.{}", std::process::id());
    let script = sb.write(
        "daemon.py",
        &format!(
            "import subprocess\nprint('C1 PASS ok', flush=True)\nsubprocess.Popen(['setsid', 'sh', '-c', 'sleep {marker}'], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)\n"
        ),
    );
    let out = sb
        .run_local(&item, "pass")
        .arg("--check-script")
        .arg(&script)
        .assert()
        .code(0)
        .get_output()
        .clone();
    let left = processes_matching(&format!("sleep {marker}"));
    assert!(left.is_empty(), "the daemon outlived the run: {left:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("outside its process group"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn missing_interpreter_is_permanent_hold() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    sb.run_local(&item, "pass")
        .args(["--python", "/nonexistent/python3"])
        .assert()
        .code(75)
        .stderr(predicate::str::contains(
            "cannot run `/nonexistent/python3`",
        ));
    assert_eq!(front(&item, "rule").as_deref(), Some("spawn-failed"));
}

#[test]
fn unknown_exit_is_retried_then_hold() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let script = sb.write("exit5.py", "import sys\nsys.exit(5)\n");
    sb.run_local(&item, "pass")
        .arg("--check-script")
        .arg(&script)
        .args(["--retries", "2"])
        .assert()
        .code(75)
        .stderr(
            predicate::str::contains("attempt 1/3").and(predicate::str::contains("retrying in")),
        );
    assert_eq!(front(&item, "outcome").as_deref(), Some("transient-infra"));
    assert_eq!(front(&item, "rule").as_deref(), Some("unknown-exit"));
    assert_eq!(attempts(&item), 3);
    assert!(
        front(&item, "reason")
            .unwrap()
            .contains("retry budget of 2 spent")
    );
}

#[test]
fn hanging_suite_times_out_to_hold() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let start = Instant::now();
    sb.run_local(&item, "hang")
        .args(["--timeout", "1", "--retries", "0"])
        .assert()
        .code(75);
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(front(&item, "rule").as_deref(), Some("own-timeout"));
    assert_eq!(
        front(&item, "summary").as_deref(),
        Some("1 check passed before the attempt timed out")
    );
    // The check line printed before the hang is still in the log.
    assert!(log_text(&item).contains("| C1 | PASS |"));
}

#[test]
fn timeout_kills_grandchildren_that_ignore_sigterm() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let pids = sb.path().join("pids");
    sb.run_local(&item, "grandchild")
        .args(["--timeout", "1", "--retries", "0"])
        .env("STAGING_CHECK_PID_FILE", &pids)
        .timeout(Duration::from_secs(30))
        .assert()
        .code(75);
    let text = std::fs::read_to_string(&pids).unwrap();
    let all: Vec<u32> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    assert_eq!(all.len(), 3, "suite, child and grandchild recorded: {text}");
    for pid in all {
        assert!(!alive(pid), "pid {pid} survived: {text}");
    }
}

#[test]
fn heartbeat_on_long_silence_says_attempt_and_time_left() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    sb.run_local(&item, "slow")
        .env("ORCH_STAGING_RUNNER_HEARTBEAT", "1")
        .env("STAGING_CHECK_SLOW_SECONDS", "2.5")
        .assert()
        .code(0)
        .stderr(
            predicate::str::contains("attempt 1/3")
                .and(predicate::str::contains("still running after"))
                .and(predicate::str::contains("left)")),
        );
}

#[test]
fn a_tiny_heartbeat_with_a_chatty_suite_never_crashes() {
    // An unchecked subtraction of durations once panicked here (exit 70).
    let sb = Sandbox::new();
    for _ in 0..8 {
        let item = sb.work_item(&uid("ORCH"));
        sb.run_local(&item, "flood")
            .env("ORCH_STAGING_RUNNER_HEARTBEAT", "0.001")
            .env("STAGING_CHECK_FLOOD_MB", "2")
            .arg("--quiet")
            .assert()
            .code(0);
    }
}

#[test]
fn non_utf8_and_huge_lines_are_kept_not_fatal() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    sb.run_local(&item, "binary").assert().code(0);
    let log = log_text(&item);
    assert!(log.contains("caf\u{fffd}"));
    assert!(log.contains("[line truncated]"));
}

#[test]
fn json_result_on_stdout_and_human_output_on_stderr() {
    let sb = Sandbox::new();
    let id = uid("ORCH");
    let item = sb.work_item(&id);
    let out = sb
        .run_local(&item, "pass")
        .arg("--json")
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v = json(&out);
    assert_eq!(v["verdict"], "SUCCESS");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["checks"]["total"], 11);
    assert_eq!(v["attempts"].as_array().unwrap().len(), 1);
    assert!(
        v["log_path"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{id}/15-staging-log.md"))
    );
}

#[test]
fn dry_run_prints_argv_and_runs_nothing() {
    let sb = Sandbox::new();
    let id = uid("ORCH");
    let item = sb.work_item(&id);
    sb.run_local(&item, "pass")
        .arg("--dry-run")
        .assert()
        .code(0)
        .stdout(predicate::str::ends_with(format!(
            "--work-item {id} --mode stub\n"
        )));
    assert!(!item.join("15-staging-log.md").exists());
}

#[test]
fn log_is_replaced_not_appended() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    sb.run_local(&item, "fail").assert().code(1);
    sb.run_local(&item, "pass").assert().code(0);
    assert_eq!(front(&item, "staging_status").as_deref(), Some("SUCCESS"));
    assert_eq!(log_text(&item).matches("staging_status:").count(), 1);
}

#[test]
fn a_fail_line_before_a_crash_or_a_kill_is_still_failed() {
    let sb = Sandbox::new();
    for tail in ["sys.exit(5)", "os.kill(os.getpid(), signal.SIGKILL)"] {
        let item = sb.work_item(&uid("ORCH"));
        let script = sb.write(
            "failthen.py",
            &format!("import os, signal, sys\nprint('C1 PASS ok')\nprint('C4 FAIL migrations pending', flush=True)\n{tail}\n"),
        );
        sb.run_local(&item, "pass")
            .arg("--check-script")
            .arg(&script)
            .assert()
            .code(1);
        assert_eq!(
            front(&item, "rule").as_deref(),
            Some("suite-failing-check"),
            "{tail}"
        );
        assert_eq!(attempts(&item), 1);
    }
}
