//! Preflight over ssh against a real sshd and Docker: every step with the
//! rules' words, the steps as one remote command, and that command faulted
//! mid-way (dropped, stalled or signalled; a frozen container; a key whose
//! forced command runs nothing).

use crate::common::docker::Container;
use crate::common::sshd::Sshd;
use crate::common::*;
use crate::e2e_ssh::{Case, case};
use predicates::prelude::*;
use std::time::Duration;

fn ready() -> bool {
    crate::e2e_ssh::ready()
}

fn preflight(t: &Case) -> assert_cmd::Command {
    let mut cmd = stagerun(t.sb.path());
    cmd.args(["preflight", "--repo", "r"]);
    cmd
}

/// Started in the background, its output piped for `wait_exit`.
fn spawn_preflight(t: &Case) -> std::process::Child {
    stagerun_std(t.sb.path())
        .args(["preflight", "--repo", "r"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn preflight_reports_each_step_with_the_rules_reason_and_fix() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::docker("pass");
    let t = case(&server, "client", "known_hosts", &c.name, "");
    let out = preflight(&t)
        .arg("--json")
        .assert()
        .code(0)
        .get_output()
        .clone();
    let v = json(&out.stdout);
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
            "check script present",
            "lock folder writable"
        ]
    );
    assert!(
        v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["ok"] == true)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .next()
            .unwrap_or("")
            .contains("preflight: repo r via ssh+docker"),
        "the header comes first: {err}"
    );
    // The steps run as one remote command: one login even without a master.
    let single = case(
        &server,
        "client",
        "known_hosts",
        &c.name,
        "connection_reuse: false\n",
    );
    let before = server.logins();
    preflight(&single)
        .assert()
        .code(0)
        .stderr(predicate::str::contains("ok    lock folder writable"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.logins() - before, 1, "{}", server.log());

    let missing = case(
        &server,
        "client",
        "known_hosts",
        "stagerun-e2e-no-such-container",
        "",
    );
    preflight(&missing).assert().code(75).stderr(
        predicate::str::contains("FAIL  container running")
            .and(predicate::str::contains(
                "the staging container does not exist",
            ))
            .and(predicate::str::contains("what to do: Fix `container`")),
    );
    c.pause();
    preflight(&t).assert().code(75).stderr(
        predicate::str::contains("FAIL  container running")
            .and(predicate::str::contains("is paused")),
    );
    let t2 = case(&server, "wrong", "known_hosts", &c.name, "");
    let before = server.refused();
    preflight(&t2).assert().code(75).stderr(
        predicate::str::contains("FAIL  ssh reachable")
            .and(predicate::str::contains("ssh-permission-denied"))
            .and(predicate::str::contains("what to do:")),
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        server.refused() - before,
        1,
        "one failed authentication per preflight"
    );
    let c2 = Container::docker("pass");
    let t3 = case(
        &server,
        "client",
        "known_hosts",
        &c2.name,
        "check_script: /staging/missing.py\n",
    );
    preflight(&t3)
        .assert()
        .code(75)
        .stderr(predicate::str::contains("FAIL  check script present"));
}

/// `run --preflight`: the steps run over the run's own connection and are
/// recorded in the log; a failing step is a HOLD and the suite never runs.
#[test]
fn run_with_preflight_records_the_steps_and_stops_at_a_failing_one() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::docker("pass");
    let t = case(&server, "client", "known_hosts", &c.name, "");
    let out = t
        .cmd()
        .arg("--preflight")
        .assert()
        .code(0)
        .get_output()
        .clone();
    let log = log_text(&t.item);
    assert!(log.contains("## Preflight"), "{log}");
    assert!(log.contains("| check script present | ok |"), "{log}");
    assert_eq!(t.front("staging_status"), "SUCCESS");
    assert_eq!(
        server.logins(),
        1,
        "preflight and suite share one connection"
    );
    drop(out);

    let missing = case(
        &server,
        "client",
        "known_hosts",
        &c.name,
        "check_script: /staging/nope.py\n",
    );
    let started = c.processes_matching(&missing.id);
    assert!(started.is_empty());
    let out = missing
        .cmd()
        .arg("--preflight")
        .assert()
        .code(75)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    let log = log_text(&missing.item);
    assert_eq!(missing.front("staging_status"), "HOLD", "{log}");
    assert!(log.contains("## Preflight"), "{log}");
    assert_eq!(
        missing.front("attempts"),
        "[]",
        "the suite never ran: {log}\n{err}"
    );
    assert_eq!(missing.front("rule"), "preflight-check-script-present");
    assert!(
        missing.front("reason").contains("the suite was not run"),
        "{log}"
    );
}

/// The container's runtime shim, stopped: every `docker exec` and
/// `docker inspect` on it hangs until it is continued.
struct FrozenShim(u32);

impl FrozenShim {
    fn freeze(c: &Container) -> FrozenShim {
        let out = std::process::Command::new("docker")
            .args(["inspect", "-f", "{{.State.Pid}}", &c.name])
            .output()
            .unwrap();
        let init = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let stat = std::fs::read_to_string(format!("/proc/{init}/stat")).unwrap();
        let shim: u32 = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        signal(shim, libc::SIGSTOP);
        FrozenShim(shim)
    }
}

impl Drop for FrozenShim {
    fn drop(&mut self) {
        signal(self.0, libc::SIGCONT);
    }
}

/// Preflight's one remote command, faulted mid-way: a dropped session is
/// ssh's failure in ssh's words (read from the master), never the step's
/// "not found"; a step that hangs is reported as hanging once the
/// command's limit passes.
#[test]
fn preflight_faults_mid_command_are_the_channels_not_the_steps() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::docker("pass");
    let t = case(
        &server,
        "client",
        "known_hosts",
        &c.name,
        "connect_timeout: 2\n",
    );
    let frozen = FrozenShim::freeze(&c);
    let mut child = spawn_preflight(&t);
    // The first steps answer; `docker inspect` on the frozen container hangs.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        server.signal_sessions(libc::SIGKILL) > 0,
        "no ssh session to drop"
    );
    let (code, err) = wait_exit(&mut child, Duration::from_secs(20));
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("rule ssh-closed-by-remote"), "{err}");
    assert!(!err.contains("not found"), "{err}");
    // The hung `docker inspect` and the script around it are stopped where
    // they run, over a new connection.
    let left = none_left(&c.name, Duration::from_secs(5));
    assert!(left.is_empty(), "left on the staging host: {left:?}");

    // A signal mid-command: said as such, and nothing left there either.
    let mut child = spawn_preflight(&t);
    std::thread::sleep(Duration::from_secs(3));
    signal(child.id(), libc::SIGTERM);
    let (code, err) = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("interrupted by a signal"), "{err}");
    let left = none_left(&c.name, Duration::from_secs(5));
    assert!(left.is_empty(), "left on the staging host: {left:?}");

    let started = std::time::Instant::now();
    let out = preflight(&t)
        .arg("--json")
        .timeout(Duration::from_secs(90))
        .assert()
        .code(75)
        .get_output()
        .clone();
    let v = json(&out.stdout);
    let last = v["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["name"], "container running", "{v}");
    assert_eq!(last["class"], "transient-infra", "{v}");
    assert!(
        last["detail"]
            .as_str()
            .unwrap()
            .contains("no answer within"),
        "{v}"
    );
    // connect_timeout 2 s + 20 s + 2 s for each of the 6 steps
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "{:?}",
        started.elapsed()
    );
    let left = none_left(&c.name, Duration::from_secs(5));
    assert!(left.is_empty(), "left on the staging host: {left:?}");
    drop(frozen);
}

/// A key with a forced command runs none of the steps and exits 0: that
/// is never a passing preflight. A check script that is a folder is said
/// as such.
#[test]
fn preflight_never_passes_steps_that_did_not_run() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::docker("pass");
    let forced = case(&server, "forced", "known_hosts", &c.name, "");
    let out = preflight(&forced)
        .arg("--json")
        .assert()
        .code(75)
        .get_output()
        .clone();
    let v = json(&out.stdout);
    assert_eq!(v["ok"], false, "{v}");
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{v}");
    assert_eq!(steps[0]["name"], "ssh reachable", "{v}");
    assert_eq!(steps[0]["class"], "permanent-env", "{v}");
    assert!(
        steps[0]["detail"]
            .as_str()
            .unwrap()
            .contains("forced command"),
        "{v}"
    );

    let folder = case(
        &server,
        "client",
        "known_hosts",
        &c.name,
        "check_script: /staging\n",
    );
    preflight(&folder)
        .assert()
        .code(75)
        .stderr(predicate::str::contains(
            "check script `/staging` is a folder",
        ));
}

/// A shared (persisted) master runs in the background with its stderr
/// gone; its log (ssh -E) still gives ssh's own words when the staging
/// host stalls mid-preflight.
#[test]
fn a_stall_under_a_shared_master_is_said_in_ssh_words() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::docker("pass");
    let t = case(
        &server,
        "client",
        "known_hosts",
        &c.name,
        "connection_persist: 60s\nconnect_timeout: 2\nserver_alive_interval: 1\n",
    );
    preflight(&t).assert().code(0);
    let frozen = FrozenShim::freeze(&c);
    let mut child = spawn_preflight(&t);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        server.signal_sessions(libc::SIGSTOP) > 0,
        "no session to stall"
    );
    let (code, err) = wait_exit(&mut child, Duration::from_secs(40));
    server.signal_sessions(libc::SIGCONT);
    server.signal_sessions(libc::SIGKILL);
    drop(frozen);
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("rule ssh-server-not-responding"), "{err}");
    stagerun(t.sb.path())
        .args(["disconnect", "--repo", "r"])
        .assert()
        .code(0);
}
