//! Faults injected while the suite runs on the staging host, over the real
//! sshd and the real Docker engine, with what is left in the container
//! checked afterwards: a killed or stalled ssh session, signals to stagerun,
//! a missing timeout(1), two runners on one work item, SIGKILL of stagerun.

use crate::common::docker::{self, Container, Engine, Spec};
use crate::common::sshd::Sshd;
use crate::common::*;
use crate::e2e_ssh::case;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn ready() -> bool {
    docker::ready(Engine::Docker)
}

/// Test suites mounted into the container at /suites.
fn suites(sb: &Sandbox) -> String {
    sb.write(
        "suites/lost_then_pass.py",
        "import os, sys, time\nstate = '/tmp/lost-state-' + sys.argv[2]\nfirst = not os.path.exists(state)\nopen(state, 'a').close()\nprint('C1 PASS reachable', flush=True)\nif first:\n    print('C4 FAIL migrations pending (first attempt)', flush=True)\n    open('/tmp/started-' + sys.argv[2], 'w').close()\n    time.sleep(60)\nprint('C4 PASS migrations applied', flush=True)\n",
    );
    sb.write(
        "suites/started_then_hang.py",
        "import os, signal, sys, time\nprint('C1 PASS reachable', flush=True)\npid = os.fork()\nif pid == 0:\n    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n    if os.fork() == 0:\n        time.sleep(3600)\n    time.sleep(3600)\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nopen('/tmp/started-' + sys.argv[2], 'w').close()\ntime.sleep(3600)\n",
    );
    sb.write("suites/slow_pass.py", "import time, sys\nopen('/tmp/started-' + sys.argv[2], 'w').close()\ntime.sleep(4)\nprint('C1 PASS ok', flush=True)\n");
    sb.path().join("suites").display().to_string()
}

/// A container with this module's suites at /suites; the sandbox holds
/// them and must live as long as the container is used.
fn suites_container() -> (Sandbox, Container) {
    let sb = Sandbox::new();
    let dir = suites(&sb);
    let c = Container::start(
        Engine::Docker,
        Spec::scenario("pass").mount(&dir, "/suites"),
    );
    (sb, c)
}

fn wait_started(c: &Container, id: &str) {
    let until = Instant::now() + Duration::from_secs(30);
    while c
        .exec(&[
            "sh",
            "-c",
            &format!("test -f /tmp/started-{id} && echo yes"),
        ])
        .trim()
        != "yes"
    {
        assert!(
            Instant::now() < until,
            "the suite never started in the container"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_session_killed_mid_suite_is_never_failed_and_nothing_is_left_in_the_container() {
    if !ready() {
        return;
    }
    for retries in [0, 2] {
        let server = Sshd::start();
        let (_suites, c) = suites_container();
        let t = case(
            &server,
            "client",
            "known_hosts",
            &c.name,
            // Without reattaching (e2e_reattach has that): a lost run is a
            // transient fault, stopped and retried.
            &format!(
                "check_script: /suites/lost_then_pass.py\ninfra_retries: {retries}\nreattach_attempts: 0\n"
            ),
        );
        let mut run = t
            .std()
            .arg("--json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_started(&c, &t.id);
        // The suite's lines go to the spool first; the follower sends what
        // the spool gained every tenth of a second: the drop comes after
        // stagerun has read them, as a drop in the suite's sleep would.
        std::thread::sleep(Duration::from_millis(1500));
        assert!(server.signal_sessions(libc::SIGKILL) > 0);
        let (code, err) = wait_exit(&mut run, Duration::from_secs(90));
        let log = log_text(&t.item);
        assert_ne!(code, 1, "FAILED after a dropped connection:\n{err}\n{log}");
        assert_ne!(t.front("staging_status"), "FAILED", "{log}");
        if retries == 0 {
            assert_eq!(code, 75, "{err}");
            assert_eq!(t.front("outcome"), "transient-infra", "{log}");
            // The summary names the failing check it saw (it once read
            // "1 check passed before the channel was lost").
            assert_eq!(
                t.front("summary"),
                "1 check passed and C4 failed before the channel was lost",
                "{log}"
            );
        } else {
            assert_eq!(code, 0, "a clean retry passes: {err}\n{log}");
            assert_eq!(attempts(&t.item), 2, "{log}");
            // The first attempt's failing check is kept in the record.
            assert!(
                log.contains("C4 migrations pending (first attempt)"),
                "{log}"
            );
        }
        assert!(log.contains("provenance: lost"), "{log}");
        assert_ne!(t.front("remote_cleanup"), "failed", "{log}");
        let left = c.none_left(&t.id, Duration::from_secs(10));
        assert!(left.is_empty(), "left in the container: {left:?}");
    }
}

#[test]
fn a_stalled_host_is_a_hold_named_by_ssh_not_unknown() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let (_suites, c) = suites_container();
    let t = case(
        &server,
        "client",
        "known_hosts",
        &c.name,
        "check_script: /suites/started_then_hang.py\nserver_alive_interval: 1\ninfra_retries: 0\ntimeout: 60\nreattach_attempts: 0\n",
    );
    let mut run = t
        .std()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_started(&c, &t.id);
    let stopped = server.session_pids();
    server.signal_sessions(libc::SIGSTOP);
    let (code, err) = wait_exit(&mut run, Duration::from_secs(60));
    for p in &stopped {
        signal(*p as u32, libc::SIGCONT);
    }
    assert_eq!(code, 75, "{err}");
    assert_eq!(
        t.front("rule"),
        "ssh-server-not-responding",
        "{}",
        log_text(&t.item)
    );
    assert_eq!(
        t.front("remote_cleanup"),
        "confirmed",
        "{}",
        log_text(&t.item)
    );
    let left = c.none_left(&t.id, Duration::from_secs(10));
    assert!(left.is_empty(), "left in the container: {left:?}");
}

/// The timeout fires while the session is stalled and before ssh's
/// keep-alive gives up: the stop through the stalled master cannot answer,
/// so it goes over a new connection and is confirmed, in bounded time.
#[test]
fn a_timeout_during_a_stalled_session_stops_the_suite_over_a_new_connection() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let (_suites, c) = suites_container();
    let t = case(
        &server,
        "client",
        "known_hosts",
        &c.name,
        "check_script: /suites/started_then_hang.py\nserver_alive_interval: 60\ninfra_retries: 0\ntimeout: 4\n",
    );
    let start = std::time::Instant::now();
    let mut run = t
        .std()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_started(&c, &t.id);
    let stopped = server.session_pids();
    for p in &stopped {
        signal(*p as u32, libc::SIGSTOP);
    }
    let (code, err) = wait_exit(&mut run, Duration::from_secs(90));
    let took = start.elapsed();
    for p in &stopped {
        signal(*p as u32, libc::SIGCONT);
    }
    assert_eq!(code, 75, "{err}");
    assert_eq!(
        t.front("remote_cleanup"),
        "confirmed",
        "{}",
        log_text(&t.item)
    );
    assert!(err.contains("trying a new connection"), "{err}");
    assert!(took < Duration::from_secs(30), "took {took:?}: {err}");
    let left = c.none_left(&t.id, Duration::from_secs(10));
    assert!(left.is_empty(), "left in the container: {left:?}");
}

#[test]
fn a_failing_suite_with_infrastructure_looking_stderr_is_failed_once() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    for line in [
        "Error response from daemon: No such container: orch-db",
        "ssh: connect to host db-replica port 22: Connection refused",
        "OCI runtime exec failed: exec failed: unable to start container process: exec: \\\"x\\\": executable file not found in $PATH: unknown",
        "Error response from daemon: Container 0123abcd is not running",
    ] {
        let c = Container::start(
            Engine::Docker,
            Spec::scenario("script")
                .env(
                    "STAGING_CHECK_STDOUT",
                    "C1 PASS ok\\nC4 FAIL db unreachable\\n",
                )
                .env("STAGING_CHECK_STDERR", &format!("{line}\\n"))
                .env("STAGING_CHECK_EXIT", "1"),
        );
        let t = case(&server, "client", "known_hosts", &c.name, "");
        t.expect(1, "FAILED", "suite-ran", "suite-failing-check", 1);
    }
}

#[test]
fn signals_mid_suite_stop_the_suite_in_the_container_too() {
    if !ready() {
        return;
    }
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let server = Sshd::start();
        let (_suites, c) = suites_container();
        let t = case(
            &server,
            "client",
            "known_hosts",
            &c.name,
            "check_script: /suites/started_then_hang.py\ngrace: 2\n",
        );
        let mut run = t
            .std()
            .arg("--json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_started(&c, &t.id);
        assert_eq!(
            c.processes_matching("started_then_hang.py")
                .iter()
                .filter(|p| p.contains("python3 /suites"))
                .count(),
            3,
            "suite, child, grandchild run"
        );
        let start = Instant::now();
        signal(run.id(), sig);
        let (code, err) = wait_exit(&mut run, Duration::from_secs(30));
        assert_eq!(code, 75, "{sig}: {err}");
        assert!(
            start.elapsed() < Duration::from_secs(2 + 5),
            "{sig}: {:?}",
            start.elapsed()
        );
        assert_eq!(t.front("outcome"), "interrupted");
        assert_eq!(
            t.front("remote_cleanup"),
            "confirmed",
            "{}",
            log_text(&t.item)
        );
        assert!(
            t.front("reason")
                .contains("stopped (confirmed where it runs)")
        );
        let left = c.none_left(&t.id, Duration::from_secs(3));
        assert!(left.is_empty(), "{sig}: left in the container: {left:?}");
    }
}

#[test]
fn without_timeout_or_setsid_in_the_image_the_deadline_holds_and_retries_do_not_pile_up() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    for hide in [
        vec!["/usr/bin/timeout"],
        vec!["/usr/bin/timeout", "/usr/bin/setsid"],
    ] {
        let sb = Sandbox::new();
        let dir = suites(&sb);
        let mut spec = Spec::scenario("pass").mount(&dir, "/suites");
        for h in &hide {
            spec = spec.hide(h);
        }
        let c = Container::start(Engine::Docker, spec);
        assert!(
            c.exec(&["sh", "-c", "command -v timeout || echo none"])
                .contains("none")
        );
        let t = case(
            &server,
            "client",
            "known_hosts",
            &c.name,
            "check_script: /suites/started_then_hang.py\ntimeout: 5\ngrace: 1\ninfra_retries: 1\n",
        );
        let out = t.run().code(75).get_output().clone();
        let rule = t.front("rule");
        assert!(
            rule == "remote-deadline" || rule == "own-timeout",
            "{rule}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(attempts(&t.item), 2);
        let left = c.none_left(&t.id, Duration::from_secs(5));
        assert!(left.is_empty(), "{hide:?}: left in the container: {left:?}");
    }
}

#[test]
fn two_runners_on_one_work_item_and_container_run_the_suite_once() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let (_suites, c) = suites_container();
    let first = case(
        &server,
        "client",
        "known_hosts",
        &c.name,
        "check_script: /suites/slow_pass.py\n",
    );
    // The second runner: another checkout (its own folder and local lock),
    // the same work item id, the same container and state folder.
    let second_sb = Sandbox::new();
    let second_item = second_sb.work_item(&first.id);
    std::fs::copy(
        first.sb.path().join("stagerun.yaml"),
        second_sb.path().join("stagerun.yaml"),
    )
    .unwrap();
    let mut one = first
        .std()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_started(&c, &first.id);
    let out = stagerun(second_sb.path())
        .arg("run")
        .arg(&second_item)
        .args(["--repo", "orch-core", "--json"])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(75)
        .get_output()
        .clone();
    let v = json(&out.stdout);
    assert_schema_valid(&v);
    assert_eq!(v["outcome"], "busy", "{v}");
    assert_eq!(
        v["attempts"].as_array().unwrap().len(),
        1,
        "busy is not retried"
    );
    let (code, err) = wait_exit(&mut one, Duration::from_secs(60));
    assert_eq!(code, 0, "the first runner is untouched: {err}");
    assert_eq!(first.front("staging_status"), "SUCCESS");
}

#[test]
fn sigkill_of_stagerun_leaves_no_master_and_the_next_run_stops_the_suite() {
    if !ready() {
        return;
    }
    let server = Sshd::start();
    let (_suites, c) = suites_container();
    let t = case(
        &server,
        "client",
        "known_hosts",
        &c.name,
        "check_script: /suites/started_then_hang.py\ntimeout: 120\n",
    );
    let mut run = t
        .std()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_started(&c, &t.id);
    signal(run.id(), libc::SIGKILL);
    let _ = run.wait();
    // The master dies with stagerun: no authenticated connection is left.
    let masters = || {
        processes_matching(&format!("-p {}", server.port))
            .into_iter()
            .filter(|m| m.contains("ControlMaster=yes"))
            .count()
    };
    let until = Instant::now() + Duration::from_secs(3);
    while masters() > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(masters(), 0, "the ssh master outlived stagerun");
    // The next run for the work item finds what was left and stops it first.
    assert!(
        !c.processes_matching(&t.id).is_empty(),
        "the suite still runs in the container"
    );
    let yaml = std::fs::read_to_string(t.sb.path().join("stagerun.yaml")).unwrap();
    std::fs::write(
        t.sb.path().join("stagerun.yaml"),
        yaml.replace("/suites/started_then_hang.py", "/staging/staging_check.py"),
    )
    .unwrap();
    let out = t.cmd().arg("--json").assert().code(0).get_output().clone();
    let v = json(&out.stdout);
    assert!(
        v["recovered"]
            .as_str()
            .unwrap_or("")
            .contains("confirmed stopped where it runs"),
        "{v}"
    );
    let left = c.none_left("started_then_hang", Duration::from_secs(5));
    assert!(left.is_empty(), "left in the container: {left:?}");
}

#[test]
fn a_signal_while_the_ssh_master_connects_ends_the_run_at_once_and_runs_nothing() {
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
        &format!("port: {}\nconnect_timeout: 30\n", mute.port),
    );
    let mut run = t
        .std()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let start = Instant::now();
    signal(run.id(), libc::SIGTERM);
    let (code, err) = wait_exit(&mut run, Duration::from_secs(20));
    assert_eq!(code, 75, "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(t.front("outcome"), "interrupted");
    assert!(
        t.front("reason")
            .contains("nothing of the suite was left running"),
        "{}",
        log_text(&t.item)
    );
    assert_eq!(server.logins(), 0);
    assert!(c.processes_matching(&t.id).is_empty());
}
