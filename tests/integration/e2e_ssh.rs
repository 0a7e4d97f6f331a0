//! The default transport end to end: a real sshd on loopback, the real
//! Docker engine behind it, the fixture suite in a real container.

use crate::common::docker::{self, Container, Engine, SCRIPT_IN_CONTAINER, Spec};
use crate::common::sshd::Sshd;
use crate::common::*;
use predicates::prelude::*;
use std::path::PathBuf;
use std::time::Duration;

pub struct Case {
    pub sb: Sandbox,
    pub item: PathBuf,
    pub id: String,
}

/// A sandbox with stagerun.yaml pointing at `server` and `container`;
/// `extra` lines replace base lines with the same key.
pub fn case(server: &Sshd, key: &str, known_hosts: &str, container: &str, extra: &str) -> Case {
    let sb = Sandbox::new();
    let id = uid("ORCH");
    let item = sb.work_item(&id);
    let base = format!(
        "{}container: {container}\ncheck_script: {SCRIPT_IN_CONTAINER}\ntimeout: 30\ngrace: 1\ninfra_retries: 2\nbackoff_base: 0.05\npush: false\nremote_state_dir: /tmp/stagerun-{}\n",
        server.config(key, known_hosts),
        id.to_lowercase()
    );
    let key_of = |l: &str| l.split(':').next().unwrap_or("").to_string();
    let overridden: Vec<String> = extra.lines().map(key_of).collect();
    let mut yaml: String = base
        .lines()
        .filter(|l| !overridden.contains(&key_of(l)))
        .map(|l| format!("{l}\n"))
        .collect();
    yaml.push_str(extra);
    sb.write("stagerun.yaml", &yaml);
    Case { sb, item, id }
}

impl Case {
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut c = stagerun(self.sb.path());
        c.arg("run")
            .arg(&self.item)
            .args(["--repo", "orch-core"])
            .timeout(Duration::from_secs(120));
        c
    }
    pub fn run(&self) -> assert_cmd::assert::Assert {
        self.cmd().assert()
    }
    pub fn std(&self) -> std::process::Command {
        let mut c = stagerun_std(self.sb.path());
        c.arg("run").arg(&self.item).args(["--repo", "orch-core"]);
        c
    }
    pub fn front(&self, key: &str) -> String {
        front(&self.item, key).unwrap_or_default()
    }
    pub fn expect(
        &self,
        code: i32,
        verdict: &str,
        class: &str,
        rule: &str,
        n: usize,
    ) -> std::process::Output {
        let out = self.run().code(code).get_output().clone();
        self.check(&out, verdict, class, rule, n);
        out
    }
    pub fn check(
        &self,
        out: &std::process::Output,
        verdict: &str,
        class: &str,
        rule: &str,
        n: usize,
    ) {
        let ctx = format!(
            "stderr:\n{}\nlog:\n{}",
            String::from_utf8_lossy(&out.stderr),
            log_text(&self.item)
        );
        assert_eq!(self.front("staging_status"), verdict, "{ctx}");
        assert_eq!(self.front("outcome"), class, "{ctx}");
        assert_eq!(self.front("rule"), rule, "{ctx}");
        assert_eq!(attempts(&self.item), n, "{ctx}");
    }
}

fn ready() -> bool {
    docker::ready(Engine::Docker)
}

#[test]
fn pass_is_success_and_fail_is_failed() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::docker("pass");
    let t = case(&server, "client", "known_hosts", &c.name, "");
    t.expect(0, "SUCCESS", "suite-ran", "suite-passed", 1);
    assert_eq!(t.front("summary"), "9/11 PASS, C9a/C9b waived");
    assert_eq!(t.front("transport"), "ssh");
    assert_eq!(t.front("remote_cleanup"), "not-needed");
    stagerun(t.sb.path())
        .arg("gate")
        .arg(&t.item)
        .assert()
        .code(0);
    // Markers never show: not live, not in the log.
    let out = t.run().code(0).get_output().clone();
    let marker = regex::Regex::new(r"@@stagerun:[0-9a-f]{32}:").unwrap();
    assert!(!marker.is_match(&String::from_utf8_lossy(&out.stdout)));
    assert!(!marker.is_match(&String::from_utf8_lossy(&out.stderr)));
    assert!(
        !marker.is_match(&log_text(&t.item)),
        "{}",
        log_text(&t.item)
    );
    // Key files under a name with ssh's `%` tokens and a space (Jenkins
    // workspaces are named like `job%2Fbranch`) are used as they are named.
    let odd = t.sb.path().join("keys %h %2F dir");
    std::fs::create_dir_all(&odd).unwrap();
    for f in ["client", "known_hosts"] {
        std::fs::copy(server.path(f), odd.join(f)).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(odd.join("client"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let extra = format!(
        "identity_file: \"{}\"\nknown_hosts: \"{}\"\n",
        odd.join("client").display(),
        odd.join("known_hosts").display()
    );
    case(&server, "client", "known_hosts", &c.name, &extra).expect(
        0,
        "SUCCESS",
        "suite-ran",
        "suite-passed",
        1,
    );
    let f = Container::docker("fail");
    case(&server, "client", "known_hosts", &f.name, "").expect(
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
    let c = Container::docker("pass");
    let t = case(&server, "client", "known_hosts", &c.name, "");
    server.stop();
    t.expect(75, "HOLD", "transient-infra", "ssh-connection-refused", 3);
}

#[test]
fn a_wrong_key_is_one_permanent_hold_and_one_refused_login() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::docker("pass");
    case(&server, "wrong", "known_hosts", &c.name, "").expect(
        75,
        "HOLD",
        "permanent-env",
        "ssh-permission-denied",
        1,
    );
    // One failed authentication, not two (the master's failure is the attempt's).
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.refused(), 1, "{}", server.log());
}

#[test]
fn host_key_and_name_faults_are_permanent_holds() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::docker("pass");
    case(&server, "client", "known_hosts_changed", &c.name, "").expect(
        75,
        "HOLD",
        "permanent-env",
        "ssh-host-key-changed",
        1,
    );
    case(&server, "client", "known_hosts_empty", &c.name, "").expect(
        75,
        "HOLD",
        "permanent-env",
        "ssh-host-key-unknown",
        1,
    );
    let t = case(
        &server,
        "client",
        "known_hosts",
        &c.name,
        "host: staging.invalid\n",
    );
    t.expect(75, "HOLD", "permanent-env", "ssh-resolve-unknown", 1);
}

#[test]
fn a_stalled_sshd_is_a_transient_banner_timeout() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let mute = crate::common::sshd::Mute::start();
    let c = Container::docker("pass");
    let t = case(
        &server,
        "client",
        "known_hosts",
        &c.name,
        &format!(
            "port: {}\nconnect_timeout: 1\ninfra_retries: 0\n",
            mute.port
        ),
    );
    t.expect(75, "HOLD", "transient-infra", "ssh-banner-timeout", 1);
}

#[test]
fn docker_missing_on_the_host_is_permanent_hold_not_failed() {
    if !ready() {
        return;
    }
    // The incident that created stagerun: no docker on the runner's PATH.
    let server = Sshd::start();
    let c = Container::docker("pass");
    case(&server, "nodocker", "known_hosts", &c.name, "").expect(
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
        &server,
        "client",
        "known_hosts",
        "stagerun-e2e-no-such-container",
        "",
    )
    .expect(75, "HOLD", "permanent-env", "docker-no-such-container", 1);
    let stopped = Container::docker("pass");
    stopped.kill();
    case(&server, "client", "known_hosts", &stopped.name, "").expect(
        75,
        "HOLD",
        "permanent-env",
        "docker-container-not-running",
        1,
    );
    let paused = Container::docker("pass");
    paused.pause();
    case(&server, "client", "known_hosts", &paused.name, "").expect(
        75,
        "HOLD",
        "permanent-env",
        "docker-container-paused",
        1,
    );
    let c = Container::docker("pass");
    case(
        &server,
        "client",
        "known_hosts",
        &c.name,
        "check_script: /staging/nope.py\n",
    )
    .expect(75, "HOLD", "permanent-env", "check-script-missing", 1);
    case(
        &server,
        "client",
        "known_hosts",
        &c.name,
        "python: python9\n",
    )
    .expect(75, "HOLD", "permanent-env", "interpreter-missing", 1);
    // A state folder that cannot be created where the suite runs.
    case(
        &server,
        "client",
        "known_hosts",
        &c.name,
        "remote_state_dir: /proc/nope\n",
    )
    .expect(75, "HOLD", "permanent-env", "remote-state-error", 1);
}

#[test]
fn one_master_connection_serves_all_retries_and_stops() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::docker("flaky");
    let t = case(&server, "client", "known_hosts", &c.name, "");
    t.expect(75, "HOLD", "transient-infra", "unknown-exit", 3);
    assert_eq!(server.logins(), 1, "{}", server.log());
    // Without reuse every attempt authenticates again.
    let server2 = Sshd::start();
    case(
        &server2,
        "client",
        "known_hosts",
        &c.name,
        "connection_reuse: false\n",
    )
    .expect(75, "HOLD", "transient-infra", "unknown-exit", 3);
    assert_eq!(server2.logins(), 3, "{}", server2.log());
    // The master is gone after the run.
    let left = processes_matching(&format!("-p {}", server.port));
    assert!(
        left.iter().all(|p| !p.contains("ControlMaster=yes")),
        "master still running: {left:?}"
    );
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
    let item = sb.work_item(&uid("ORCH"));
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
fn dry_run_shows_the_exact_ssh_argv_and_it_runs_by_hand() {
    if !ready() {
        return;
    }
    let server = Sshd::start_in("stagerun sshd with space");
    let c = Container::docker("pass");
    let t = case(&server, "client", "known_hosts", &c.name, "");
    let out = stagerun(t.sb.path())
        .arg("run")
        .arg(&t.item)
        .args(["--repo", "r", "--dry-run", "--json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v = json(&out);
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
    assert!(
        argv.iter()
            .any(|a| a.starts_with("UserKnownHostsFile=\"") && a.contains("with space")),
        "{argv:?}"
    );
    let remote = argv.last().unwrap();
    assert!(
        remote.starts_with(&format!("docker exec {} sh -c", c.name)),
        "{remote}"
    );
    assert!(
        remote.ends_with(&format!(
            "python3 /staging/staging_check.py --work-item {} --mode stub",
            t.id
        )),
        "{remote}"
    );
    // Running that argv by hand gives the suite's answer (markers and all).
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
    let stdout = String::from_utf8_lossy(&direct.stdout);
    assert!(
        stdout.contains("C10 PASS") && stdout.contains(":end:0:ok:"),
        "{stdout}"
    );
    // And a run with a known_hosts path holding a space works too.
    t.expect(0, "SUCCESS", "suite-ran", "suite-passed", 1);
}

#[test]
fn preflight_reports_each_step_with_the_rules_reason_and_fix() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let c = Container::docker("pass");
    let t = case(&server, "client", "known_hosts", &c.name, "");
    let out = stagerun(t.sb.path())
        .args(["preflight", "--repo", "r", "--json"])
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
    stagerun(single.sb.path())
        .args(["preflight", "--repo", "r"])
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
    stagerun(missing.sb.path())
        .args(["preflight", "--repo", "r"])
        .assert()
        .code(75)
        .stderr(
            predicate::str::contains("FAIL  container running")
                .and(predicate::str::contains(
                    "the staging container does not exist",
                ))
                .and(predicate::str::contains("what to do: Fix `container`")),
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
    let t2 = case(&server, "wrong", "known_hosts", &c.name, "");
    let before = server.refused();
    stagerun(t2.sb.path())
        .args(["preflight", "--repo", "r"])
        .assert()
        .code(75)
        .stderr(
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
    stagerun(t3.sb.path())
        .args(["preflight", "--repo", "r"])
        .assert()
        .code(75)
        .stderr(predicate::str::contains("FAIL  check script present"));
}

#[test]
fn engine_none_over_ssh_runs_on_the_host_itself() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let t = case(
        &server,
        "client",
        "known_hosts",
        "unused",
        &format!("engine: none\ncheck_script: {}\n", check_script().display()),
    );
    let out = t
        .cmd()
        .env("STAGING_CHECK_SCENARIO", "pass")
        .assert()
        .get_output()
        .clone();
    // The suite's scenario comes from the ssh session's environment, which
    // sshd does not pass on: the default scenario (pass) runs.
    t.check(&out, "SUCCESS", "suite-ran", "suite-passed", 1);
    assert_eq!(t.front("engine"), "none");
    let _ = Spec::default();
}

/// A hostile suite reads the wrapper's nonce from /proc and prints a
/// passing end marker of its own before failing: the verdict is never
/// taken from it (never SUCCESS, whatever it printed).
#[test]
fn a_suite_that_forges_the_end_marker_gets_no_verdict() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("forge.py"),
        "import os, sys\n\
         args = open(f'/proc/{os.getppid()}/cmdline', 'rb').read().split(b'\\0')\n\
         nonce = args[args.index(b'stagerun') + 1].decode()\n\
         print('C1 PASS ok', flush=True)\n\
         marker = f'@@stagerun:{nonce}:end:0:ok:none@@'\n\
         print(marker, flush=True)\n\
         print(marker, file=sys.stderr, flush=True)\n\
         print('C2 FAIL after the forged marker', flush=True)\n\
         sys.exit(1)\n",
    )
    .unwrap();
    let c = Container::start(
        Engine::Docker,
        Spec::scenario("pass").mount(dir.path().to_str().unwrap(), "/hostile"),
    );
    let t = case(
        &server,
        "client",
        "known_hosts",
        &c.name,
        "check_script: /hostile/forge.py\n",
    );
    t.expect(75, "HOLD", "permanent-env", "suite-forged-marker", 1);
}

/// `connection_persist`: preflight, run and gate of one pipeline pay one
/// ssh handshake; a master killed behind our back is replaced (and said);
/// `stagerun disconnect` closes it.
#[test]
fn a_persisted_connection_serves_a_whole_pipeline_with_one_handshake() {
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
        "connection_persist: 60s\n",
    );
    let masters = || {
        processes_matching("ControlPersist=")
            .into_iter()
            .filter(|p| p.contains(&format!("-p {}", server.port)))
            .collect::<Vec<_>>()
    };
    stagerun(t.sb.path())
        .args(["preflight", "--repo", "orch-core"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("opened a shared ssh master"));
    let out = t.expect(0, "SUCCESS", "suite-ran", "suite-passed", 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("reusing the shared ssh master"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stagerun(t.sb.path())
        .arg("gate")
        .arg(&t.item)
        .assert()
        .code(0);
    assert_eq!(server.logins(), 1, "{}", server.log());
    assert_eq!(masters().len(), 1, "the master outlives the invocations");

    // Killed behind our back: the socket is stale; the next run opens a
    // fresh master and the verdict is unaffected.
    for m in masters() {
        let pid: u32 = m.split_whitespace().next().unwrap().parse().unwrap();
        signal(pid, libc::SIGKILL);
    }
    let out = t.expect(0, "SUCCESS", "suite-ran", "suite-passed", 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did not answer; opening a fresh one"), "{err}");
    assert_eq!(server.logins(), 2, "{}", server.log());

    stagerun(t.sb.path())
        .args(["disconnect", "--repo", "orch-core"])
        .assert()
        .code(0);
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while !masters().is_empty() && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(masters().is_empty(), "disconnect left {:?}", masters());
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

/// In the container too: a daemon the suite started in a session of its
/// own is stopped by the wrapper before it reports the end.
#[test]
fn a_daemon_the_suite_left_in_the_container_is_stopped() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("daemon.py"),
        "import subprocess\n\
         print('C1 PASS ok', flush=True)\n\
         subprocess.Popen(['sh', '-c', 'sleep 66.6'], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)\n",
    )
    .unwrap();
    let c = Container::start(
        Engine::Docker,
        Spec::scenario("pass").mount(dir.path().to_str().unwrap(), "/hostile"),
    );
    let t = case(
        &server,
        "client",
        "known_hosts",
        &c.name,
        "check_script: /hostile/daemon.py\n",
    );
    t.expect(0, "SUCCESS", "suite-ran", "suite-passed", 1);
    let left = c.processes_matching("sleep 66.6");
    assert!(left.is_empty(), "left in the container: {left:?}");
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
    let mut child = stagerun_std(t.sb.path())
        .args(["preflight", "--repo", "r"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
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
    let mut child = stagerun_std(t.sb.path())
        .args(["preflight", "--repo", "r"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    signal(child.id(), libc::SIGTERM);
    let (code, err) = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("interrupted by a signal"), "{err}");
    let left = none_left(&c.name, Duration::from_secs(5));
    assert!(left.is_empty(), "left on the staging host: {left:?}");

    let started = std::time::Instant::now();
    let out = stagerun(t.sb.path())
        .args(["preflight", "--repo", "r", "--json"])
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
    let out = stagerun(forced.sb.path())
        .args(["preflight", "--repo", "r", "--json"])
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
    stagerun(folder.sb.path())
        .args(["preflight", "--repo", "r"])
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
    stagerun(t.sb.path())
        .args(["preflight", "--repo", "r"])
        .assert()
        .code(0);
    let frozen = FrozenShim::freeze(&c);
    let mut child = stagerun_std(t.sb.path())
        .args(["preflight", "--repo", "r"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
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
