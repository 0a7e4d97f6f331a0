//! The default transport end to end: a real sshd on loopback, the real
//! Docker engine behind it, the fixture suite in a real container.

use crate::common::docker::{self, Container, Engine, SCRIPT_IN_CONTAINER, Spec};
use crate::common::sshd::Sshd;
use crate::common::*;
use predicates::prelude::*;
use std::path::PathBuf;
use std::process::Stdio;
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

pub fn ready() -> bool {
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
        remote.starts_with(&format!("docker exec -i {} sh -c", c.name)),
        "{remote}"
    );
    assert!(
        remote.ends_with(&format!(
            "python3 /staging/staging_check.py --work-item {} --mode stub",
            t.id
        )),
        "{remote}"
    );
    // Running that argv by hand gives the suite's answer (markers and all);
    // `a` on stdin is stagerun's receipt, after which the run's spool goes.
    let mut hand = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    hand.stdin.take().unwrap().write_all(b"a\n").unwrap();
    let direct = hand.wait_with_output().unwrap();
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
         nonce = args[args.index(b'stagerun') + 2].decode()\n\
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
