//! The text a person reads: one wording per fault whatever the subcommand,
//! a dry run a person can check, `classify --explain` saying why the near
//! rules did not match and what verdict follows, man pages with one section
//! per topic.

use crate::common::*;
use std::process::Stdio;
use std::time::Duration;

/// The error line of a command (`stagerun: error: …` or `stagerun: HOLD: …`)
/// and its exit code.
fn error_line(cmd: &mut assert_cmd::Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("stagerun: error: ") || l.starts_with("stagerun: HOLD: "))
        .unwrap_or_else(|| panic!("no error line: {err}"))
        .to_string();
    (out.status.code().unwrap_or(-1), line)
}

/// `run` and `gate` on the same missing path, the same plain file, the same
/// busy work item: the same words.
#[test]
fn one_wording_per_fault_across_subcommands() {
    let sb = Sandbox::new();
    let missing = sb.path().join("nonexistent/ORCH-999");
    let file = sb.write("ORCH-998", "not a folder\n");
    for (path, words) in [
        (&missing, "no such file or folder"),
        (&file, "is not a folder"),
    ] {
        let gate = error_line(stagerun(sb.path()).arg("gate").arg(path));
        let run = error_line(sb.run_local(path, "pass").arg("--quiet"));
        let dry = error_line(sb.run_local(path, "pass").arg("--dry-run"));
        assert_eq!(gate, run, "{words}");
        assert_eq!(gate, dry, "{words}");
        assert_eq!(gate.0, 2);
        assert!(
            gate.1 == format!("stagerun: error: work item `{}`: {words}", path.display())
                || gate.1 == format!("stagerun: error: work item `{}` {words}", path.display()),
            "{}",
            gate.1
        );
    }
    // A work item another run holds: `run` and `gate` say it alike.
    let item = sb.work_item(&uid("ORCH"));
    let started = sb.path().join("started");
    let mut first = sb
        .run_local_std(&item, "script")
        .env("STAGING_CHECK_STARTED_FILE", &started)
        .env("STAGING_CHECK_STDOUT", "C1 PASS a\\n")
        .env("STAGING_CHECK_SLEEP", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&started, Duration::from_secs(20));
    let busy = format!(
        "work item `{}` is busy: a run is in progress",
        item.display()
    );
    let (code, gate) = error_line(stagerun(sb.path()).arg("gate").arg(&item));
    assert_eq!(code, 75);
    assert!(
        gate.starts_with(&format!("stagerun: HOLD: {busy}")),
        "{gate}"
    );
    let (code, run) = error_line(sb.run_local(&item, "pass").arg("--quiet"));
    assert_eq!(code, 75);
    assert!(run.starts_with(&format!("stagerun: HOLD: {busy}")), "{run}");
    let (code, _) = wait_exit(&mut first, Duration::from_secs(30));
    assert_eq!(code, 0);
    // Operating-system errors in stagerun's words, not Rust's ("(os error 20)").
    let (code, man) = error_line(
        stagerun(sb.path())
            .args(["man", "--dir"])
            .arg(file.join("man1")),
    );
    assert_eq!(code, 2);
    assert_eq!(
        man,
        format!(
            "stagerun: error: cannot create {}: a part of the path is not a folder",
            file.join("man1").display()
        )
    );
}

/// `--dry-run` says first what a person checks, each value with where it
/// came from (file, environment, flag, default), then the exact argv
/// (`--dry-run=exact` alone; the snapshots hold both for every channel and
/// engine).
#[test]
fn a_dry_run_says_what_would_run_and_where_each_value_came_from() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-115");
    sb.write(
        "stagerun.yaml",
        "user: deploy\nrepos:\n  core:\n    host: staging-1.internal\n    container: orch-core-app\n",
    );
    let out = stagerun(sb.path())
        .arg("run")
        .arg(&item)
        .args(["--repo", "core", "--dry-run", "--retries", "0"])
        .env("ORCH_STAGING_RUNNER_TIMEOUT", "5m")
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let row = |name: &str| -> String {
        text.lines()
            .find(|l| l.starts_with(&format!("  {name} ")))
            .unwrap_or_else(|| panic!("no {name} row: {text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        row("channel"),
        "channel ssh to deploy@staging-1.internal # channel: built-in default; \
         host from key `repos.core.host` in stagerun.yaml line 4; user from key `user` in stagerun.yaml line 1"
    );
    assert_eq!(
        row("engine"),
        "engine docker exec, container orch-core-app # engine: the channel's default; \
         container from key `repos.core.container` in stagerun.yaml line 5"
    );
    assert_eq!(
        row("suite"),
        "suite python3 staging_check.py --work-item ORCH-115 --mode stub # check_script, python, mode: built-in default"
    );
    assert_eq!(
        row("timeout"),
        "timeout 5m00s per attempt (stopped where it runs at 4m45s) # timeout from environment variable ORCH_STAGING_RUNNER_TIMEOUT"
    );
    assert_eq!(
        row("retries"),
        "retries 0: one attempt, a transient fault is HOLD at once # infra_retries from flag --retries"
    );
    assert!(
        text.starts_with("dry run: nothing is started (config file stagerun.yaml)\n"),
        "{text}"
    );
    // The exact argv last: what `--dry-run=exact` prints alone.
    let exact = stagerun(sb.path())
        .arg("run")
        .arg(&item)
        .args(["--repo", "core", "--dry-run=exact", "--retries", "0"])
        .env("ORCH_STAGING_RUNNER_TIMEOUT", "5m")
        .output()
        .unwrap();
    let exact = String::from_utf8(exact.stdout).unwrap();
    assert!(exact.starts_with("ssh -o 'BatchMode=yes'"), "{exact}");
    // Each run has its own nonce.
    let nonce = regex::Regex::new("[0-9a-f]{32}").unwrap();
    let (text, exact) = (
        nonce.replace_all(&text, "N"),
        nonce.replace_all(&exact, "N"),
    );
    assert!(text.ends_with(&*exact), "{text}");
    assert!(!item.join("15-staging-log.md").exists());
}
