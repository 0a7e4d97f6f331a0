//! Podman as the engine, for real (Debian's rootful podman), over ssh and
//! locally: the same matrix as docker.

use crate::common::podman::{self, Container, Engine, Spec};
use crate::common::sshd::Sshd;
use crate::common::*;
use crate::e2e_ssh::case;
use std::time::Duration;

const SCRIPT: &str = crate::common::docker::SCRIPT_IN_CONTAINER;

fn ready() -> bool {
    require("sshd", crate::common::sshd::available()) && require("podman", podman::available())
}

fn over_ssh(server: &Sshd, c: &str, extra: &str) -> crate::e2e_ssh::Case {
    case(
        server,
        "client",
        "known_hosts",
        c,
        &format!("engine: podman\n{extra}"),
    )
}

#[test]
fn podman_over_ssh_verdicts_and_faults() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let pass = Container::start(Engine::Podman, Spec::scenario("pass"));
    let t = over_ssh(&server, &pass.name, "");
    t.expect(0, "SUCCESS", "suite-ran", "suite-passed", 1);
    assert_eq!(t.front("engine"), "podman");
    let fail = Container::start(Engine::Podman, Spec::scenario("fail"));
    over_ssh(&server, &fail.name, "").expect(1, "FAILED", "suite-ran", "suite-failing-check", 1);
    over_ssh(&server, "stagerun-e2e-no-such", "").expect(
        75,
        "HOLD",
        "permanent-env",
        "podman-no-such-container",
        1,
    );
    let stopped = Container::start(Engine::Podman, Spec::scenario("pass"));
    stopped.stop();
    over_ssh(&server, &stopped.name, "").expect(
        75,
        "HOLD",
        "permanent-env",
        "podman-container-not-running",
        1,
    );
    let paused = Container::start(Engine::Podman, Spec::scenario("pass"));
    paused.pause();
    over_ssh(&server, &paused.name, "").expect(
        75,
        "HOLD",
        "permanent-env",
        "podman-container-not-running",
        1,
    );
    over_ssh(&server, &pass.name, "check_script: /staging/nope.py\n").expect(
        75,
        "HOLD",
        "permanent-env",
        "check-script-missing",
        1,
    );
    over_ssh(&server, &pass.name, "python: python9\n").expect(
        75,
        "HOLD",
        "permanent-env",
        "interpreter-missing",
        1,
    );
}

#[test]
fn podman_over_ssh_a_hang_is_stopped_in_the_container() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::start(Engine::Podman, Spec::scenario("grandchild"));
    let t = over_ssh(&server, &c.name, "timeout: 5\ninfra_retries: 0\n");
    t.run().code(75);
    let rule = t.front("rule");
    assert!(rule == "remote-deadline" || rule == "own-timeout", "{rule}");
    let left = c.none_left(&t.id, Duration::from_secs(5));
    assert!(left.is_empty(), "left in the container: {left:?}");
}

#[test]
fn podman_locally() {
    if !require("podman", podman::available()) {
        return;
    }
    let sb = Sandbox::new();
    let c = Container::start(Engine::Podman, Spec::scenario("pass"));
    let run = |item: &std::path::Path, container: &str, extra: &[&str]| {
        let mut cmd = stagerun(sb.path());
        cmd.arg("run")
            .arg(item)
            .args([
                "--repo",
                "r",
                "--transport",
                "local",
                "--engine",
                "podman",
                "--no-push",
                "--container",
                container,
                "--check-script",
                SCRIPT,
            ])
            .args(extra)
            .env("ORCH_STAGING_RUNNER_GRACE", "1")
            .timeout(Duration::from_secs(120));
        cmd.assert()
    };
    let item = sb.work_item(&uid("ORCH"));
    run(&item, &c.name, &[]).code(0);
    assert_eq!(front(&item, "channel").as_deref(), Some("local"));
    assert_eq!(front(&item, "engine").as_deref(), Some("podman"));
    let item = sb.work_item(&uid("ORCH"));
    run(&item, "stagerun-e2e-no-such", &[]).code(75);
    assert_eq!(
        front(&item, "rule").as_deref(),
        Some("podman-no-such-container")
    );
    let hang = Container::start(Engine::Podman, Spec::scenario("grandchild"));
    let id = uid("ORCH");
    let item = sb.work_item(&id);
    run(&item, &hang.name, &["--timeout", "4", "--retries", "0"]).code(75);
    let left = hang.none_left(&id, Duration::from_secs(5));
    assert!(left.is_empty(), "left in the container: {left:?}");
}
