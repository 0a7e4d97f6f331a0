//! `gate`, configuration precedence and bad input, through the binary.

mod common;
use common::*;
use predicates::prelude::*;

const GOOD: &str =
    "---\nschema: stagerun.staging-log/1\nstaging_status: {V}\nwork_item: ORCH-1\n---\n\n# log\n";

#[test]
fn gate_exits_with_the_verdict_code() {
    let sb = Sandbox::new();
    for (v, code) in [("SUCCESS", 0), ("FAILED", 1), ("HOLD", 75)] {
        let item = sb.work_item("ORCH-1");
        std::fs::write(item.join("15-staging-log.md"), GOOD.replace("{V}", v)).unwrap();
        stagerun(sb.path())
            .arg("gate")
            .arg(&item)
            .assert()
            .code(code);
    }
}

#[test]
fn gate_on_missing_or_malformed_log_is_never_zero() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-2");
    stagerun(sb.path())
        .arg("gate")
        .arg(&item)
        .assert()
        .code(75)
        .stderr(
            predicate::str::contains("15-staging-log.md")
                .and(predicate::str::contains("no such file")),
        );
    for bad in [
        "staging_status: SUCCESS\n",
        "---\nschema: stagerun.staging-log/1\nstaging_status: SUCCESS\nstaging_status: FAILED\n---\n",
        "---\nschema: stagerun.staging-log/1\nstaging_status: success\n---\n",
        "---\nschema: stagerun.staging-log/1\n---\nstaging_status: SUCCESS\n",
        "\u{0}\u{1}binary",
    ] {
        std::fs::write(item.join("15-staging-log.md"), bad).unwrap();
        let out = stagerun(sb.path())
            .arg("gate")
            .arg(&item)
            .assert()
            .code(75)
            .get_output()
            .stderr
            .clone();
        let msg = String::from_utf8_lossy(&out);
        assert!(msg.contains("malformed log"), "{bad:?}: {msg}");
        assert_eq!(msg.trim_end().lines().count(), 1, "{msg}");
    }
    stagerun(sb.path())
        .arg("gate")
        .arg(sb.path().join("nope"))
        .assert()
        .code(2);
}

fn dry_run(sb: &Sandbox, item: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = stagerun(sb.path());
    cmd.arg("run")
        .arg(item)
        .args(["--repo", "core", "--dry-run"]);
    cmd
}

#[test]
fn precedence_flag_env_file_default() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-3");
    // Default transport is ssh and needs a host.
    dry_run(&sb, &item)
        .assert()
        .code(78)
        .stderr(predicate::str::contains(
            "is not set: the ssh transport needs it",
        ));
    sb.write(
        "stagerun.yaml",
        "host: file-host\ncontainer: file-ctr\nrepos:\n  core:\n    container: repo-ctr\n",
    );
    dry_run(&sb, &item).assert().code(0).stdout(
        predicate::str::contains("-- file-host")
            .and(predicate::str::contains("docker exec repo-ctr")),
    );
    dry_run(&sb, &item)
        .env("ORCH_STAGING_RUNNER_HOST", "env-host")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("-- env-host"));
    dry_run(&sb, &item)
        .env("ORCH_STAGING_RUNNER_HOST", "env-host")
        .args(["--host", "flag-host"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("-- flag-host"));
    // EXEC_HOST_SIDE=false is the legacy docker path on this machine.
    dry_run(&sb, &item)
        .env("ORCH_STAGING_RUNNER_EXEC_HOST_SIDE", "false")
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("docker exec repo-ctr sh -c"));
}

#[test]
fn bad_configuration_is_78_with_key_and_source_and_nothing_written() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-4");
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        ("timeout: [1,\n", vec![], "stagerun.yaml:"),
        (
            "host: h\nbogus_key: 1\n",
            vec![],
            "unknown field `bogus_key`",
        ),
        ("timeout: abc\n", vec![], "stagerun.yaml:1:"),
        ("timeout: -3\n", vec![], "key `timeout` in stagerun.yaml"),
        (
            "",
            vec![("ORCH_STAGING_RUNNER_TIMEOUT", "abc")],
            "ORCH_STAGING_RUNNER_TIMEOUT",
        ),
        (
            "",
            vec![("ORCH_STAGING_RUNNER_TIMEOUT", "-1")],
            "ORCH_STAGING_RUNNER_TIMEOUT",
        ),
        (
            "",
            vec![("ORCH_STAGING_RUNNER_TIMEOUT", "0")],
            "ORCH_STAGING_RUNNER_TIMEOUT",
        ),
        (
            "",
            vec![("ORCH_STAGING_RUNNER_INFRA_RETRIES", "many")],
            "ORCH_STAGING_RUNNER_INFRA_RETRIES",
        ),
        (
            "",
            vec![("ORCH_STAGING_RUNNER_ENABLED", "perhaps")],
            "ORCH_STAGING_RUNNER_ENABLED",
        ),
        (
            "",
            vec![("ORCH_STAGING_RUNNER_EXEC_HOST_SIDE", "2")],
            "ORCH_STAGING_RUNNER_EXEC_HOST_SIDE",
        ),
        ("id_pattern: '(['\n", vec![], "`id_pattern`"),
        (
            "transport: local\ncheck_script: \"a\\nb\"\n",
            vec![],
            "`check_script`",
        ),
        (
            "transport: docker\ncontainer: \"x; rm -rf /\"\n",
            vec![],
            "`container`",
        ),
        (
            "host: \"-oProxyCommand=evil\"\ncontainer: c\n",
            vec![],
            "`host`",
        ),
    ];
    for (yaml, env, needle) in cases {
        sb.write("stagerun.yaml", yaml);
        let mut cmd = stagerun(sb.path());
        cmd.arg("run")
            .arg(&item)
            .args(["--repo", "core", "--transport", "local", "--no-push"]);
        if yaml.contains("transport:") || yaml.contains("host:") {
            cmd = stagerun(sb.path());
            cmd.arg("run")
                .arg(&item)
                .args(["--repo", "core", "--no-push"]);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.assert().code(78).get_output().stderr.clone();
        let msg = String::from_utf8_lossy(&out);
        assert!(msg.contains(needle), "{yaml:?}: {msg}");
        assert_eq!(msg.trim_end().lines().count(), 1, "one line: {msg}");
        assert!(!item.join("15-staging-log.md").exists());
    }
    // A config file named explicitly must exist.
    let mut cmd = stagerun(sb.path());
    cmd.arg("run")
        .arg(&item)
        .args(["--repo", "core", "--config", "missing.yaml"]);
    cmd.assert()
        .code(78)
        .stderr(predicate::str::contains("missing.yaml"));
}

#[test]
fn bad_work_item_input_is_usage_error_and_nothing_written() {
    let sb = Sandbox::new();
    let file = sb.write("ORCH-5", "not a folder");
    let bad_id = sb.work_item("orch-5-lower");
    let injected = sb.work_item("ORCH-5;touch pwned");
    for (path, needle) in [
        (sb.path().join("missing/ORCH-5"), "no such file or folder"),
        (file.clone(), "is not a folder"),
        (bad_id.clone(), "does not match the id pattern"),
        (injected.clone(), "does not match the id pattern"),
    ] {
        let mut cmd = stagerun(sb.path());
        cmd.arg("run")
            .arg(&path)
            .args(["--repo", "core", "--transport", "local", "--no-push"]);
        let out = cmd.assert().code(2).get_output().stderr.clone();
        let msg = String::from_utf8_lossy(&out);
        assert!(msg.contains(needle), "{path:?}: {msg}");
    }
    assert!(!bad_id.join("15-staging-log.md").exists());
    assert!(!sb.path().join("pwned").exists());
    // No arguments at all, or an empty repo.
    stagerun(sb.path()).arg("run").assert().code(2);
    stagerun(sb.path())
        .arg("run")
        .arg(&bad_id)
        .args(["--repo", ""])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--repo"));
    stagerun(sb.path()).arg("frobnicate").assert().code(2);
}

#[test]
fn classify_command_explains() {
    let sb = Sandbox::new();
    let err = sb.write(
        "err.txt",
        "Error response from daemon: No such container: app\n",
    );
    stagerun(sb.path())
        .args(["classify", "--exit-code", "1", "--explain", "--stderr-file"])
        .arg(&err)
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("class: permanent-env")
                .and(predicate::str::contains("MATCH  docker-no-such-container")),
        );
    let out = stagerun(sb.path())
        .args(["classify", "--signal", "KILL", "--json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["rule"], "killed-by-signal");
    stagerun(sb.path()).args(["classify"]).assert().code(2);
    let rules = sb.write("rules.yaml", "- id: x\n  class: nope\n  reason: r\n");
    stagerun(sb.path())
        .args(["classify", "--exit-code", "1", "--rules"])
        .arg(&rules)
        .assert()
        .code(78)
        .stderr(predicate::str::contains("rule `x`: unknown class `nope`"));
}

#[test]
fn preflight_classifies_a_missing_client_with_the_run_rules() {
    let sb = Sandbox::new();
    for (transport, rule) in [
        ("docker", "docker-cli-missing-local"),
        ("ssh", "ssh-client-missing"),
    ] {
        let out = stagerun(sb.path())
            .args([
                "preflight",
                "--repo",
                "r",
                "--json",
                "--transport",
                transport,
            ])
            .args(["--host", "staging-1", "--container", "app"])
            .env("PATH", "/nonexistent")
            .assert()
            .code(75)
            .get_output()
            .stdout
            .clone();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let step = &v["steps"][0];
        assert_eq!(step["ok"], false, "{v}");
        assert_eq!(step["rule"], rule, "{v}");
        assert_eq!(step["class"], "permanent-env", "{v}");
    }
}
