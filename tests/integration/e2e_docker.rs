//! The legacy local docker path (`--transport docker`, or
//! `exec_host_side: false`): the same wrapper and guarantees, no ssh.

use crate::common::docker::{self, Container, Engine, SCRIPT_IN_CONTAINER, Spec};
use crate::common::*;
use predicates::prelude::*;
use std::time::Duration;

fn ready() -> bool {
    require("docker engine", Engine::Docker.available())
}

fn run(sb: &Sandbox, item: &std::path::Path, container: &str) -> assert_cmd::Command {
    let mut cmd = stagerun(sb.path());
    cmd.arg("run")
        .arg(item)
        .args([
            "--repo",
            "orch-core",
            "--transport",
            "docker",
            "--no-push",
            "--container",
            container,
            "--check-script",
            SCRIPT_IN_CONTAINER,
        ])
        .env("ORCH_STAGING_RUNNER_BACKOFF_BASE", "0.01")
        .env("ORCH_STAGING_RUNNER_GRACE", "1")
        .env(
            "ORCH_STAGING_RUNNER_REMOTE_STATE_DIR",
            format!("/tmp/{}", uid("s").to_lowercase()),
        )
        .timeout(Duration::from_secs(120));
    cmd
}

#[test]
fn docker_transport_verdicts() {
    if !ready() {
        return;
    }
    let sb = Sandbox::new();
    let pass = Container::docker("pass");
    let item = sb.work_item(&uid("ORCH"));
    run(&sb, &item, &pass.name).assert().code(0);
    assert_eq!(front(&item, "transport").as_deref(), Some("docker"));
    assert_eq!(front(&item, "channel").as_deref(), Some("local"));
    assert_eq!(front(&item, "engine").as_deref(), Some("docker"));
    assert_eq!(front(&item, "staging_status").as_deref(), Some("SUCCESS"));
    let fail = Container::docker("fail");
    let item = sb.work_item(&uid("ORCH"));
    run(&sb, &item, &fail.name).assert().code(1);
    assert_eq!(front(&item, "staging_status").as_deref(), Some("FAILED"));
    // exec_host_side: false means the same path.
    let item = sb.work_item(&uid("ORCH"));
    stagerun(sb.path())
        .arg("run")
        .arg(&item)
        .args([
            "--repo",
            "r",
            "--no-push",
            "--container",
            &pass.name,
            "--check-script",
            SCRIPT_IN_CONTAINER,
        ])
        .env("ORCH_STAGING_RUNNER_EXEC_HOST_SIDE", "false")
        .assert()
        .code(0);
    assert_eq!(front(&item, "transport").as_deref(), Some("docker"));
}

#[test]
fn docker_transport_environment_faults_are_hold() {
    if !ready() {
        return;
    }
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    run(&sb, &item, "stagerun-e2e-missing").assert().code(75);
    assert_eq!(
        front(&item, "rule").as_deref(),
        Some("docker-no-such-container")
    );
    let c = Container::docker("pass");
    let item = sb.work_item(&uid("ORCH"));
    run(&sb, &item, &c.name)
        .args(["--python", "python9"])
        .assert()
        .code(75);
    assert_eq!(front(&item, "rule").as_deref(), Some("interpreter-missing"));
    // The docker CLI missing on this machine is permanent, named as such.
    let item = sb.work_item(&uid("ORCH"));
    run(&sb, &item, &c.name)
        .env("PATH", "/nonexistent")
        .assert()
        .code(75)
        .stderr(predicate::str::contains("cannot run `docker`"));
    assert_eq!(
        front(&item, "rule").as_deref(),
        Some("docker-cli-missing-local")
    );
}

#[test]
fn docker_transport_timeout_leaves_nothing_in_the_container() {
    if !ready() {
        return;
    }
    let sb = Sandbox::new();
    let c = Container::start(Engine::Docker, Spec::scenario("grandchild"));
    let id = uid("ORCH");
    let item = sb.work_item(&id);
    run(&sb, &item, &c.name)
        .args(["--timeout", "4", "--retries", "0"])
        .assert()
        .code(75);
    let rule = front(&item, "rule").unwrap();
    assert!(rule == "remote-deadline" || rule == "own-timeout", "{rule}");
    let left = c.none_left(&id, Duration::from_secs(5));
    assert!(left.is_empty(), "left in the container: {left:?}");
    let _ = docker::SCRIPT_IN_CONTAINER;
}
