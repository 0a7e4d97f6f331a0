//! The legacy in-container path (`ORCH_STAGING_RUNNER_EXEC_HOST_SIDE=false`):
//! plain `docker exec` on this machine against the real Docker engine.

mod common;
use common::docker::{self, Container, SCRIPT_IN_CONTAINER};
use common::*;
use predicates::prelude::*;

fn ready() -> bool {
    let d = docker::available();
    require(
        "docker engine",
        d.is_ok(),
        d.as_ref().err().map(String::as_str).unwrap_or(""),
    )
}

fn run(sb: &Sandbox, item: &std::path::Path, container: &str) -> assert_cmd::Command {
    let mut cmd = stagerun(sb.path());
    cmd.arg("run")
        .arg(item)
        .args(["--repo", "orch-core", "--no-push", "--container", container])
        .env("ORCH_STAGING_RUNNER_CHECK_SCRIPT", SCRIPT_IN_CONTAINER)
        .env("ORCH_STAGING_RUNNER_EXEC_HOST_SIDE", "false")
        .env("ORCH_STAGING_RUNNER_BACKOFF_BASE", "0.05")
        .env("ORCH_STAGING_RUNNER_GRACE", "1")
        .timeout(std::time::Duration::from_secs(120));
    cmd
}

#[test]
fn docker_transport_verdicts() {
    if !ready() {
        return;
    }
    let sb = Sandbox::new();
    let pass = Container::start("pass");
    let item = sb.work_item("ORCH-301");
    run(&sb, &item, &pass.name).assert().code(0);
    assert_eq!(front(&item, "transport").as_deref(), Some("docker"));
    assert_eq!(front(&item, "staging_status").as_deref(), Some("SUCCESS"));

    let fail = Container::start("fail");
    let item = sb.work_item("ORCH-302");
    run(&sb, &item, &fail.name).assert().code(1);
    assert_eq!(front(&item, "staging_status").as_deref(), Some("FAILED"));
}

#[test]
fn docker_transport_environment_faults_are_hold() {
    if !ready() {
        return;
    }
    let sb = Sandbox::new();
    let c = Container::start("pass");
    // Script missing in the container.
    let item = sb.work_item("ORCH-303");
    run(&sb, &item, &c.name)
        .args(["--check-script", "/staging/none.py"])
        .assert()
        .code(75);
    assert_eq!(
        front(&item, "rule").as_deref(),
        Some("check-script-missing")
    );
    // Interpreter missing in the container: OCI/exec error text, not a failure.
    let item = sb.work_item("ORCH-304");
    run(&sb, &item, &c.name)
        .args(["--python", "python9"])
        .assert()
        .code(75);
    assert_eq!(front(&item, "rule").as_deref(), Some("interpreter-missing"));
    // docker CLI missing on this machine.
    let item = sb.work_item("ORCH-305");
    run(&sb, &item, &c.name)
        .env("PATH", "/nonexistent")
        .assert()
        .code(75);
    assert_eq!(
        front(&item, "rule").as_deref(),
        Some("docker-cli-missing-local")
    );
    // Daemon unreachable: transient, retried.
    let item = sb.work_item("ORCH-306");
    run(&sb, &item, &c.name)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["--retries", "1"])
        .assert()
        .code(75);
    assert_eq!(
        front(&item, "rule").as_deref(),
        Some("docker-daemon-unreachable")
    );
    assert_eq!(log_text(&item).matches("- attempt:").count(), 2);
}

#[test]
fn docker_transport_timeout_leaves_nothing_in_the_container() {
    if !ready() {
        return;
    }
    let sb = Sandbox::new();
    let c = Container::start("grandchild");
    let item = sb.work_item("ORCH-307");
    run(&sb, &item, &c.name)
        .args(["--timeout", "3", "--retries", "0"])
        .assert()
        .code(75)
        .stderr(predicate::str::contains("ORCH-307 HOLD"));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        processes_matching("ORCH-307").is_empty(),
        "{:?}",
        processes_matching("ORCH-307")
    );
}
