//! `stagerun run` on the local transport: every verdict path, supervision,
//! the log, and exit codes, by running the built binary.

mod common;
use common::*;
use predicates::prelude::*;
use std::time::{Duration, Instant};

#[test]
fn passing_suite_is_success_with_a_full_log() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-115");
    sb.run_local(&item, "pass").assert().code(0);
    let log = log_text(&item);
    assert_eq!(
        log.lines()
            .filter(|l| l.starts_with("staging_status:"))
            .count(),
        1
    );
    assert_eq!(front(&item, "staging_status").as_deref(), Some("SUCCESS"));
    assert_eq!(front(&item, "work_item").as_deref(), Some("ORCH-115"));
    assert_eq!(front(&item, "repo").as_deref(), Some("orch-core"));
    assert_eq!(front(&item, "outcome").as_deref(), Some("suite-ran"));
    assert_eq!(front(&item, "rule").as_deref(), Some("suite-passed"));
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
    assert!(log.contains("--work-item ORCH-115 --mode stub"));
    // No temp file left behind.
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
    let item = sb.work_item("ORCH-7");
    sb.run_local(&item, "fail").assert().code(1);
    assert_eq!(front(&item, "staging_status").as_deref(), Some("FAILED"));
    assert_eq!(front(&item, "rule").as_deref(), Some("suite-failing-check"));
    assert!(log_text(&item).contains("| C4 | FAIL | database migrations applied: expected 0 pending migrations for ORCH-7, found 2 |"));
    stagerun(sb.path()).arg("gate").arg(&item).assert().code(1);
}

#[test]
fn exit_zero_with_a_fail_line_is_failed() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-8");
    sb.run_local(&item, "fail-exit0").assert().code(1);
    assert_eq!(front(&item, "staging_status").as_deref(), Some("FAILED"));
}

#[test]
fn suite_crash_is_failed() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-9");
    sb.run_local(&item, "crash").assert().code(1);
    // It printed C1 before crashing: evidence plus exit 1.
    assert_eq!(front(&item, "rule").as_deref(), Some("suite-failed"));
    assert_eq!(front(&item, "staging_status").as_deref(), Some("FAILED"));
    assert!(log_text(&item).contains("RuntimeError: staging fixture exploded"));
}

#[test]
fn exit_zero_without_check_lines_is_hold() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-10");
    sb.run_local(&item, "silent").assert().code(75);
    assert_eq!(front(&item, "staging_status").as_deref(), Some("HOLD"));
    assert_eq!(front(&item, "rule").as_deref(), Some("suite-no-evidence"));
}

#[test]
fn missing_script_is_permanent_hold_without_retry() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-11");
    let mut cmd = sb.run_local(&item, "pass");
    cmd.args(["--check-script", "/nonexistent/staging_check.py"]);
    cmd.assert().code(75);
    assert_eq!(front(&item, "outcome").as_deref(), Some("permanent-env"));
    assert_eq!(
        front(&item, "rule").as_deref(),
        Some("check-script-missing")
    );
    assert_eq!(log_text(&item).matches("- attempt:").count(), 1);
}

#[test]
fn missing_interpreter_is_permanent_hold() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-12");
    let mut cmd = sb.run_local(&item, "pass");
    cmd.args(["--python", "/nonexistent/python3"]);
    cmd.assert().code(75).stderr(predicate::str::contains(
        "cannot run `/nonexistent/python3`",
    ));
    assert_eq!(front(&item, "rule").as_deref(), Some("spawn-failed"));
}

#[test]
fn unknown_exit_is_retried_then_hold() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-13");
    let script = sb.write("exit5.py", "import sys\nsys.exit(5)\n");
    let mut cmd = sb.run_local(&item, "pass");
    cmd.arg("--check-script")
        .arg(&script)
        .args(["--retries", "2"]);
    cmd.assert()
        .code(75)
        .stderr(predicate::str::contains("retrying in"));
    assert_eq!(front(&item, "outcome").as_deref(), Some("transient-infra"));
    assert_eq!(front(&item, "rule").as_deref(), Some("unknown-exit"));
    assert_eq!(log_text(&item).matches("- attempt:").count(), 3);
    assert!(
        front(&item, "reason")
            .unwrap()
            .contains("retry budget of 2 spent")
    );
}

#[test]
fn hanging_suite_times_out_to_hold() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-14");
    let start = Instant::now();
    let mut cmd = sb.run_local(&item, "hang");
    cmd.args(["--timeout", "1", "--retries", "0"]);
    cmd.assert()
        .code(75)
        .stderr(predicate::str::contains("timeout after 1s"));
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(front(&item, "rule").as_deref(), Some("own-timeout"));
    // The check line printed before the hang is still in the log.
    assert!(log_text(&item).contains("| C1 | PASS |"));
}

#[test]
fn timeout_kills_grandchildren_that_ignore_sigterm() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-15");
    let pids = sb.path().join("pids");
    let mut cmd = sb.run_local(&item, "grandchild");
    cmd.args(["--timeout", "1", "--retries", "0"])
        .env("STAGING_CHECK_PID_FILE", &pids);
    cmd.timeout(Duration::from_secs(30)).assert().code(75);
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
fn heartbeat_on_long_silence() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-16");
    let mut cmd = sb.run_local(&item, "slow");
    cmd.env("ORCH_STAGING_RUNNER_HEARTBEAT", "1")
        .env("STAGING_CHECK_SLOW_SECONDS", "2.5");
    cmd.assert()
        .code(0)
        .stderr(predicate::str::contains("still running after"));
}

#[test]
fn non_utf8_and_huge_lines_are_kept_not_fatal() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-17");
    sb.run_local(&item, "binary").assert().code(0);
    let log = log_text(&item);
    assert!(log.contains("caf\u{fffd}"));
    assert!(log.contains("[line truncated]"));
}

#[test]
fn json_result_on_stdout_and_human_output_on_stderr() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-18");
    let out = sb
        .run_local(&item, "pass")
        .arg("--json")
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).expect("stdout is one JSON object");
    assert_eq!(v["verdict"], "SUCCESS");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["checks"]["total"], 11);
    assert_eq!(v["attempts"].as_array().unwrap().len(), 1);
    assert!(
        v["log_path"]
            .as_str()
            .unwrap()
            .ends_with("ORCH-18/15-staging-log.md")
    );
}

#[test]
fn dry_run_prints_argv_and_runs_nothing() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-19");
    sb.run_local(&item, "pass")
        .arg("--dry-run")
        .assert()
        .code(0)
        .stdout(predicate::str::ends_with(
            "--work-item ORCH-19 --mode stub\n",
        ));
    assert!(!item.join("15-staging-log.md").exists());
}

#[test]
fn failed_log_write_keeps_the_previous_log_and_holds() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-20");
    sb.run_local(&item, "pass").assert().code(0);
    let before = log_text(&item);
    // A file-size limit makes the log write fail for real (EFBIG), even as
    // root; SIGXFSZ is ignored so the write returns the error.
    let bin = assert_cmd::cargo::cargo_bin!("stagerun");
    let script = "trap '' XFSZ; ulimit -f 1; exec \"$0\" run \"$1\" --repo orch-core --transport local --no-push --check-script \"$2\"";
    let out = std::process::Command::new("bash")
        .current_dir(sb.path())
        .args(["-c", script])
        .arg(bin)
        .arg(&item)
        .arg(check_script())
        .env("STAGING_CHECK_SCENARIO", "fail")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("previous log (if any) is left intact"));
    assert_eq!(log_text(&item), before, "the old log must be intact");
    let leftovers: Vec<_> = std::fs::read_dir(&item)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn log_is_replaced_not_appended() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-21");
    sb.run_local(&item, "fail").assert().code(1);
    sb.run_local(&item, "pass").assert().code(0);
    assert_eq!(front(&item, "staging_status").as_deref(), Some("SUCCESS"));
    assert_eq!(log_text(&item).matches("staging_status:").count(), 1);
}
