//! The default transport end to end: a real sshd on loopback, the real
//! Docker engine behind it, the fixture suite in a real container.

mod common;
use common::docker::{self, Container, SCRIPT_IN_CONTAINER};
use common::sshd::{self, Sshd};
use common::*;
use predicates::prelude::*;
use std::path::PathBuf;

fn ready() -> bool {
    let ssh = sshd::available();
    let dock = docker::available();
    require(
        "sshd",
        ssh.is_ok(),
        ssh.as_ref().err().map(String::as_str).unwrap_or(""),
    ) && require(
        "docker engine",
        dock.is_ok(),
        dock.as_ref().err().map(String::as_str).unwrap_or(""),
    )
}

struct Case {
    sb: Sandbox,
    item: PathBuf,
}

/// A sandbox with stagerun.yaml pointing at `server` and `container`.
fn case(
    id: &str,
    server: &Sshd,
    key: &str,
    known_hosts: &str,
    container: &str,
    extra: &str,
) -> Case {
    let sb = Sandbox::new();
    let item = sb.work_item(id);
    let base = format!(
        "{}container: {container}\ncheck_script: {SCRIPT_IN_CONTAINER}\ntimeout: 30\ngrace: 1\ninfra_retries: 2\nbackoff_base: 0.05\npush: false\n",
        server.config(key, known_hosts)
    );
    // `extra` lines replace base lines with the same key.
    let key_of = |l: &str| l.split(':').next().unwrap_or("").to_string();
    let overridden: Vec<String> = extra.lines().map(key_of).collect();
    let mut yaml: String = base
        .lines()
        .filter(|l| !overridden.contains(&key_of(l)))
        .map(|l| format!("{l}\n"))
        .collect();
    yaml.push_str(extra);
    sb.write("stagerun.yaml", &yaml);
    Case { sb, item }
}

impl Case {
    fn run(&self) -> assert_cmd::assert::Assert {
        stagerun(self.sb.path())
            .arg("run")
            .arg(&self.item)
            .args(["--repo", "orch-core"])
            .timeout(std::time::Duration::from_secs(120))
            .assert()
    }
    fn front(&self, key: &str) -> String {
        front(&self.item, key).unwrap_or_default()
    }
    fn attempts(&self) -> usize {
        log_text(&self.item).matches("- attempt:").count()
    }
    fn expect(&self, code: i32, verdict: &str, class: &str, rule: &str, attempts: usize) {
        let out = self.run().code(code).get_output().clone();
        let ctx = format!(
            "stderr:\n{}\nlog:\n{}",
            String::from_utf8_lossy(&out.stderr),
            log_text(&self.item)
        );
        assert_eq!(self.front("staging_status"), verdict, "{ctx}");
        assert_eq!(self.front("outcome"), class, "{ctx}");
        assert_eq!(self.front("rule"), rule, "{ctx}");
        assert_eq!(self.attempts(), attempts, "{ctx}");
    }
}

#[test]
fn pass_is_success() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::start("pass");
    let t = case("ORCH-115", &server, "client", "known_hosts", &c.name, "");
    t.expect(0, "SUCCESS", "suite-ran", "suite-passed", 1);
    assert_eq!(t.front("summary"), "9/11 PASS, C9a/C9b waived");
    assert_eq!(t.front("transport"), "ssh");
    stagerun(t.sb.path())
        .arg("gate")
        .arg(&t.item)
        .assert()
        .code(0);
}

#[test]
fn failing_check_is_failed() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::start("fail");
    case("ORCH-201", &server, "client", "known_hosts", &c.name, "").expect(
        1,
        "FAILED",
        "suite-ran",
        "suite-failing-check",
        1,
    );
}

#[test]
fn sshd_stopped_is_transient_retried_then_hold() {
    if !ready() {
        return;
    }
    let mut server = Sshd::start();
    let c = Container::start("pass");
    let t = case("ORCH-202", &server, "client", "known_hosts", &c.name, "");
    server.stop();
    t.expect(75, "HOLD", "transient-infra", "ssh-connection-refused", 3);
}

#[test]
fn wrong_key_is_permanent_hold_with_one_attempt() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::start("pass");
    case("ORCH-203", &server, "wrong", "known_hosts", &c.name, "").expect(
        75,
        "HOLD",
        "permanent-env",
        "ssh-permission-denied",
        1,
    );
}

#[test]
fn changed_host_key_is_permanent_hold() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::start("pass");
    case(
        "ORCH-204",
        &server,
        "client",
        "known_hosts_changed",
        &c.name,
        "",
    )
    .expect(75, "HOLD", "permanent-env", "ssh-host-key-changed", 1);
}

#[test]
fn unknown_host_key_is_permanent_hold() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::start("pass");
    case(
        "ORCH-205",
        &server,
        "client",
        "known_hosts_empty",
        &c.name,
        "",
    )
    .expect(75, "HOLD", "permanent-env", "ssh-host-key-unknown", 1);
}

#[test]
fn unresolvable_host_is_permanent_hold() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::start("pass");
    let t = case("ORCH-206", &server, "client", "known_hosts", &c.name, "");
    let cfg = std::fs::read_to_string(t.sb.path().join("stagerun.yaml"))
        .unwrap()
        .replace("host: 127.0.0.1", "host: staging.invalid");
    t.sb.write("stagerun.yaml", &cfg);
    t.expect(75, "HOLD", "permanent-env", "ssh-resolve-unknown", 1);
}

#[test]
fn docker_missing_on_the_host_is_permanent_hold_not_failed() {
    if !ready() {
        return;
    }
    // The incident that created stagerun: no docker on the runner's PATH.
    let server = Sshd::start();
    let c = Container::start("pass");
    case("ORCH-207", &server, "nodocker", "known_hosts", &c.name, "").expect(
        75,
        "HOLD",
        "permanent-env",
        "docker-cli-missing",
        1,
    );
}

#[test]
fn container_faults_are_permanent_holds() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    case(
        "ORCH-208",
        &server,
        "client",
        "known_hosts",
        "stagerun-e2e-no-such-container",
        "",
    )
    .expect(75, "HOLD", "permanent-env", "docker-no-such-container", 1);
    let stopped = Container::start("pass");
    stopped.kill();
    case(
        "ORCH-209",
        &server,
        "client",
        "known_hosts",
        &stopped.name,
        "",
    )
    .expect(
        75,
        "HOLD",
        "permanent-env",
        "docker-container-not-running",
        1,
    );
    let paused = Container::start("pass");
    paused.pause();
    case(
        "ORCH-210",
        &server,
        "client",
        "known_hosts",
        &paused.name,
        "",
    )
    .expect(75, "HOLD", "permanent-env", "docker-container-paused", 1);
}

#[test]
fn missing_script_in_container_is_permanent_hold() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::start("pass");
    case(
        "ORCH-211",
        &server,
        "client",
        "known_hosts",
        &c.name,
        "check_script: /staging/nope.py\n",
    )
    .expect(75, "HOLD", "permanent-env", "check-script-missing", 1);
}

#[test]
fn hanging_suite_is_stopped_on_the_staging_host() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::start("hang");
    let t = case(
        "ORCH-212",
        &server,
        "client",
        "known_hosts",
        &c.name,
        "timeout: 4\ninfra_retries: 0\n",
    );
    let out = t.run().code(75).get_output().clone();
    let rule = t.front("rule");
    assert!(
        rule == "remote-deadline" || rule == "own-timeout",
        "{rule}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(t.front("staging_status"), "HOLD");
    // Nothing of the suite is left in the container (nor on the host).
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        processes_matching("ORCH-212").is_empty(),
        "{:?}",
        processes_matching("ORCH-212")
    );
    let host = std::process::Command::new("pgrep")
        .args(["-f", "work-item ORCH-212"])
        .output()
        .unwrap();
    assert!(
        host.stdout.is_empty(),
        "left on host: {}",
        String::from_utf8_lossy(&host.stdout)
    );
}

#[test]
fn one_master_connection_serves_all_retries() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::start("flaky");
    let t = case("ORCH-213", &server, "client", "known_hosts", &c.name, "");
    t.expect(75, "HOLD", "transient-infra", "unknown-exit", 3);
    assert_eq!(server.logins(), 1, "{}", server.log());
    // And without reuse every attempt authenticates again.
    let server2 = Sshd::start();
    let t2 = case(
        "ORCH-214",
        &server2,
        "client",
        "known_hosts",
        &c.name,
        "connection_reuse: false\n",
    );
    t2.expect(75, "HOLD", "transient-infra", "unknown-exit", 3);
    assert_eq!(server2.logins(), 3, "{}", server2.log());
    // The master is gone after the run.
    let left = std::process::Command::new("pgrep")
        .args(["-f", "ControlMaster=yes"])
        .output()
        .unwrap();
    let ours: Vec<String> = String::from_utf8_lossy(&left.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    for pid in ours {
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            !cmdline.contains(&server.port.to_string()),
            "master still running: {cmdline}"
        );
    }
}

#[test]
fn injection_attempts_are_refused_before_anything_runs() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let sb = Sandbox::new();
    let evil_item = sb.work_item("ORCH-1';touch${IFS}pwned;'");
    sb.write(
        "stagerun.yaml",
        &format!(
            "{}container: c\npush: false\n",
            server.config("client", "known_hosts")
        ),
    );
    stagerun(sb.path())
        .arg("run")
        .arg(&evil_item)
        .args(["--repo", "r"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does not match the id pattern"));
    let item = sb.work_item("ORCH-215");
    stagerun(sb.path())
        .arg("run")
        .arg(&item)
        .args(["--repo", "r", "--container", "app$(touch pwned)"])
        .assert()
        .code(78)
        .stderr(predicate::str::contains("`container`"));
    assert_eq!(server.logins(), 0, "nothing reached the host");
    assert!(!item.join("15-staging-log.md").exists());
}

#[test]
fn dry_run_shows_the_exact_ssh_argv() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::start("pass");
    let t = case("ORCH-216", &server, "client", "known_hosts", &c.name, "");
    let out = stagerun(t.sb.path())
        .arg("run")
        .arg(&t.item)
        .args(["--repo", "r", "--dry-run", "--json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let argv: Vec<String> = v["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(argv[0], "ssh");
    for opt in [
        "BatchMode=yes",
        "StrictHostKeyChecking=yes",
        "ConnectTimeout=5",
        "ServerAliveInterval=15",
    ] {
        assert!(argv.iter().any(|a| a == opt), "{opt} in {argv:?}");
    }
    let remote = argv.last().unwrap();
    assert!(
        remote.starts_with(&format!("docker exec {} sh -c", c.name)),
        "{remote}"
    );
    assert!(
        remote.ends_with("python3 /staging/staging_check.py --work-item ORCH-216 --mode stub"),
        "{remote}"
    );
    // Running that argv by hand gives the suite's answer.
    let direct = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .output()
        .unwrap();
    assert_eq!(
        direct.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&direct.stderr)
    );
    assert!(String::from_utf8_lossy(&direct.stdout).contains("C10 PASS"));
}

#[test]
fn preflight_reports_each_step() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::start("pass");
    let t = case("ORCH-217", &server, "client", "known_hosts", &c.name, "");
    let out = stagerun(t.sb.path())
        .args(["preflight", "--repo", "r", "--json"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "ssh reachable",
            "docker answering",
            "container running",
            "interpreter present",
            "check script present"
        ]
    );
    assert!(
        v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["ok"] == true)
    );

    c.pause();
    stagerun(t.sb.path())
        .args(["preflight", "--repo", "r"])
        .assert()
        .code(75)
        .stderr(
            predicate::str::contains("FAIL  container running")
                .and(predicate::str::contains("is paused")),
        );
    let t2 = case("ORCH-218", &server, "wrong", "known_hosts", &c.name, "");
    stagerun(t2.sb.path())
        .args(["preflight", "--repo", "r"])
        .assert()
        .code(75)
        .stderr(
            predicate::str::contains("FAIL  ssh reachable")
                .and(predicate::str::contains("ssh-permission-denied")),
        );
    let c2 = Container::start("pass");
    let t3 = case(
        "ORCH-219",
        &server,
        "client",
        "known_hosts",
        &c2.name,
        "check_script: /staging/missing.py\n",
    );
    stagerun(t3.sb.path())
        .args(["preflight", "--repo", "r"])
        .assert()
        .code(75)
        .stderr(predicate::str::contains("FAIL  check script present"));
}
