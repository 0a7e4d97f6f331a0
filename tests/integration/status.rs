//! `stagerun status`: the kill-switch and which setting decided it, a
//! broken configuration reported (exit 0 all the same), a run in progress
//! seen from its lock, and the last verdicts of the repository.

use crate::common::*;
use crate::history::{commit, item, repo, run_checks};
use std::time::Duration;

#[test]
fn status_reports_the_kill_switch_a_run_in_progress_and_the_last_verdicts() {
    let sb = Sandbox::new();
    let out = stagerun(sb.path())
        .args(["status", "--json"])
        .env("ORCH_STAGING_RUNNER_ENABLED", "false")
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v = json(&out);
    assert_valid_against(&v, "docs/status.schema.json");
    assert_eq!(v["enabled"], false);
    assert_eq!(
        v["enabled_by"],
        "environment variable ORCH_STAGING_RUNNER_ENABLED"
    );
    assert!(
        v["skip"].as_str().unwrap().contains("runner disabled"),
        "{v}"
    );
    // A broken configuration is reported, still exit 0.
    let v = json(
        &stagerun(sb.path())
            .args(["status", "--json"])
            .env("ORCH_STAGING_RUNNER_TIMEOUT", "soon")
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone(),
    );
    assert!(
        v["config_error"].as_str().unwrap().contains("timeout"),
        "{v}"
    );

    let work = repo(&sb);
    run_checks(&sb, &item(&work), "C1 FAIL x\n")
        .assert()
        .code(1);
    commit(&work, "run");
    let busy = item(&work);
    let started = sb.path().join("started");
    let mut child = sb
        .run_local_std(&busy, "script")
        .env("STAGING_CHECK_STDOUT", "C1 PASS ok\n")
        .env("STAGING_CHECK_SLEEP", "60")
        .env("STAGING_CHECK_STARTED_FILE", &started)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&started, Duration::from_secs(30));
    let out = stagerun(&work)
        .args(["status", "--json", "--repo", "orch-core"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    signal(child.id(), libc::SIGTERM);
    let (code, _) = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(code, 75);
    let v = json(&out);
    assert_valid_against(&v, "docs/status.schema.json");
    assert_eq!(v["enabled"], true);
    assert_eq!(v["enabled_by"], "built-in default");
    let id = busy.file_name().unwrap().to_str().unwrap();
    let run = v["in_progress"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["work_item"] == id)
        .unwrap_or_else(|| panic!("{id} not in progress: {v}"));
    assert_eq!(run["pid"], child.id());
    assert_eq!(run["attempt"], 1);
    assert_eq!(v["budget"]["attempts_allowed"], 3);
    assert_eq!(v["recent"]["last"][0]["verdict"], "FAILED", "{v}");
    assert_eq!(v["recent"]["by_class"]["suite-ran"], 1);
    // Once it ended, it is no longer in progress.
    let v = json(
        &stagerun(&work)
            .args(["status", "--json"])
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone(),
    );
    assert!(
        !v["in_progress"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["work_item"] == id),
        "{v}"
    );
    let text = stagerun(&work)
        .arg("status")
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("runner:       enabled (built-in default)"),
        "{text}"
    );
    assert!(text.contains("last 2 verdicts:"), "{text}");
}
