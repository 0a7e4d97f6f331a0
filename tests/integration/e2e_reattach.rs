//! A lost channel or a killed runner costs no re-run: faults injected
//! while the suite runs in a real container behind the real sshd, for
//! docker and podman, each asserting the exit code, the verdict, how many
//! times the suite started (counted inside the container), the log's
//! check table, and what is left in the container afterwards.

use crate::common::docker::{self, Container, Engine, Spec};
use crate::common::sshd::Sshd;
use crate::common::*;
use crate::e2e_ssh::{Case, case};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The suites, mounted at /suites: each records its start in
/// /tmp/starts-ID inside the container.
fn suites(sb: &Sandbox) -> String {
    let start =
        "import sys, time\nwi = sys.argv[2]\nopen('/tmp/starts-' + wi, 'a').write('start\\n')\n";
    sb.write(
        "suites/six.py",
        &format!("{start}for i in range(1, 7):\n    print(f'C{{i}} PASS step {{i}}', flush=True)\n    time.sleep(1)\n"),
    );
    sb.write(
        "suites/six_fail.py",
        &format!("{start}for i in range(1, 7):\n    s = 'FAIL' if i == 5 else 'PASS'\n    print(f'C{{i}} {{s}} step {{i}}', flush=True)\n    time.sleep(1)\nsys.exit(1)\n"),
    );
    sb.write(
        "suites/numbered.py",
        &format!("{start}for i in range(1, 121):\n    print(f'C{{i}} PASS line {{i}}', flush=True)\n    if i % 10 == 0:\n        print(f'stderr {{i}}', file=sys.stderr, flush=True)\n    time.sleep(0.06)\n"),
    );
    sb.write(
        "suites/fail_while_away.py",
        &format!("{start}print('C1 PASS before', flush=True)\nopen('/tmp/away-' + wi, 'w').close()\nimport os\nwhile not os.path.exists('/tmp/down-' + wi):\n    time.sleep(0.1)\nprint('C2 FAIL while the channel was down', flush=True)\ntime.sleep(1)\nprint('C3 PASS after', flush=True)\nsys.exit(1)\n"),
    );
    sb.write(
        "suites/hang.py",
        &format!("{start}print('C1 PASS reachable', flush=True)\ntime.sleep(3600)\n"),
    );
    sb.write(
        "suites/six.sh",
        "echo start >> /tmp/starts-$2\nfor i in 1 2 3 4 5 6; do echo \"C$i PASS step $i\"; sleep 1; done\n",
    );
    sb.path().join("suites").display().to_string()
}

struct Rig {
    server: Sshd,
    _suites: Sandbox,
    c: Container,
}

fn rig(engine: Engine, spec: Spec) -> Option<Rig> {
    if !docker::ready(engine) {
        return None;
    }
    let server = Sshd::start();
    let sb = Sandbox::new();
    let dir = suites(&sb);
    let c = Container::start(engine, spec.mount(&dir, "/suites"));
    Some(Rig {
        server,
        _suites: sb,
        c,
    })
}

impl Rig {
    fn case(&self, suite: &str, extra: &str) -> Case {
        let engine = match self.c.engine {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
        };
        case(
            &self.server,
            "client",
            "known_hosts",
            &self.c.name,
            &format!("engine: {engine}\ncheck_script: /suites/{suite}\n{extra}"),
        )
    }

    fn starts(&self, id: &str) -> usize {
        self.c
            .exec(&["sh", "-c", &format!("cat /tmp/starts-{id} 2>/dev/null")])
            .lines()
            .count()
    }

    fn wait_started(&self, id: &str) -> Instant {
        let until = Instant::now() + Duration::from_secs(30);
        while self.starts(id) == 0 {
            assert!(Instant::now() < until, "the suite never started");
            std::thread::sleep(Duration::from_millis(50));
        }
        Instant::now()
    }

    fn drop_sessions(&self) {
        assert!(
            self.server.signal_sessions(libc::SIGKILL) > 0,
            "no session to drop"
        );
    }

    /// The listener stopped and its sessions killed: no channel until
    /// `server.restart()`.
    fn cut_off(&mut self) {
        let sessions = self.server.session_pids();
        assert!(!sessions.is_empty(), "no session to drop");
        self.server.stop();
        for p in sessions {
            signal(p as u32, libc::SIGKILL);
        }
    }

    fn nothing_left(&self, id: &str) {
        let left = self.c.none_left(id, Duration::from_secs(15));
        assert!(left.is_empty(), "left in the container: {left:?}");
    }
}

/// stagerun with its stdout (the live echo) in a file.
fn spawn(t: &Case, extra: &[&str]) -> (Child, std::path::PathBuf) {
    let out = t.sb.path().join("echo.txt");
    let child = t
        .std()
        .args(extra)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, out)
}

fn sleep_until(t0: Instant, secs: f64) {
    let at = t0 + Duration::from_secs_f64(secs);
    if let Some(d) = at.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
}

/// The log's check table rows: (id, status).
fn table(item: &Path) -> Vec<(String, String)> {
    log_text(item)
        .lines()
        .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
        .filter(|cells| {
            cells.len() > 3
                && cells[1].starts_with('C')
                && cells[1][1..].starts_with(|c: char| c.is_ascii_digit())
        })
        .map(|cells| (cells[1].to_string(), cells[2].to_string()))
        .collect()
}

fn six_rows(fail_at: Option<usize>) -> Vec<(String, String)> {
    (1..=6)
        .map(|i| {
            let s = if Some(i) == fail_at { "FAIL" } else { "PASS" };
            (format!("C{i}"), s.to_string())
        })
        .collect()
}

fn one_drop(engine: Engine, spec: Spec, suite: &str, extra: &str) {
    let Some(r) = rig(engine, spec) else { return };
    for (file, code, verdict, fail_at) in [
        (suite, 0, "SUCCESS", None),
        ("six_fail.py", 1, "FAILED", Some(5)),
    ] {
        if file == "six_fail.py" && suite.ends_with(".sh") {
            continue;
        }
        let t = r.case(file, extra);
        let (mut run, _) = spawn(&t, &[]);
        let t0 = r.wait_started(&t.id);
        sleep_until(t0, 2.5);
        r.drop_sessions();
        let (got, err) = wait_exit(&mut run, Duration::from_secs(60));
        let log = log_text(&t.item);
        assert_eq!(got, code, "{err}\n{log}");
        assert_eq!(t.front("staging_status"), verdict, "{log}");
        assert_eq!(r.starts(&t.id), 1, "the suite started again: {log}");
        assert_eq!(table(&t.item), six_rows(fail_at), "{log}");
        assert_eq!(attempts(&t.item), 1, "{log}");
        assert_eq!(t.front("reattaches"), "1", "{log}");
        assert!(
            log.contains("## Reattaches") && log.contains("read on"),
            "{log}"
        );
        assert!(err.contains("reattaching to the same run"), "{err}");
        r.nothing_left(&t.id);
        // The spool went with the receipt: the next run is a new one.
        let state = format!("/tmp/stagerun-{}/{}.lock", t.id.to_lowercase(), t.id);
        assert_eq!(
            r.c.exec(&["sh", "-c", &format!("test -e {state} && echo there")])
                .trim(),
            "",
            "{log}"
        );
    }
}

#[test]
fn docker_one_drop_mid_suite_reads_the_same_run_to_its_end() {
    one_drop(Engine::Docker, Spec::scenario("pass"), "six.py", "");
}

#[test]
fn podman_one_drop_mid_suite_reads_the_same_run_to_its_end() {
    one_drop(Engine::Podman, Spec::scenario("pass"), "six.py", "");
}

#[test]
fn bash_as_sh_one_drop_mid_suite() {
    one_drop(
        Engine::Docker,
        Spec::scenario("pass").sh("/usr/bin/bash"),
        "six.py",
        "",
    );
}

#[test]
fn busybox_only_image_one_drop_mid_suite() {
    one_drop(
        Engine::Docker,
        Spec::default().busybox_only(),
        "six.sh",
        "python: sh\n",
    );
}

#[test]
fn without_timeout_or_setsid_one_drop_mid_suite() {
    one_drop(
        Engine::Docker,
        Spec::scenario("pass")
            .hide("/usr/bin/setsid")
            .hide("/usr/bin/timeout"),
        "six.py",
        "",
    );
}

fn three_drops(engine: Engine) {
    let Some(r) = rig(engine, Spec::scenario("pass")) else {
        return;
    };
    let t = r.case("six.py", "infra_retries: 2\n");
    let (mut run, _) = spawn(&t, &["--json"]);
    let t0 = r.wait_started(&t.id);
    for at in [1.5, 3.0, 4.5] {
        sleep_until(t0, at);
        r.drop_sessions();
    }
    let (code, err) = wait_exit(&mut run, Duration::from_secs(60));
    let log = log_text(&t.item);
    assert_eq!(code, 0, "{err}\n{log}");
    assert_eq!(r.starts(&t.id), 1, "{log}");
    assert_eq!(table(&t.item), six_rows(None), "{log}");
    assert_eq!(t.front("reattaches"), "3", "{log}");
    assert_eq!(attempts(&t.item), 1, "{log}");
    r.nothing_left(&t.id);
}

#[test]
fn docker_three_drops_within_the_retry_budget_cost_no_start() {
    three_drops(Engine::Docker);
}

#[test]
fn podman_three_drops_within_the_retry_budget_cost_no_start() {
    three_drops(Engine::Podman);
}

/// The local ssh master killed mid-run, and a session stalled for longer
/// than the keepalive and then continued: both read on.
#[test]
fn a_killed_master_and_a_stalled_session_read_on() {
    let Some(r) = rig(Engine::Docker, Spec::scenario("pass")) else {
        return;
    };
    let t = r.case("six.py", "");
    let (mut run, _) = spawn(&t, &[]);
    let t0 = r.wait_started(&t.id);
    sleep_until(t0, 2.0);
    let masters: Vec<u32> = processes_matching(&format!("-p {}", r.server.port))
        .iter()
        .filter(|m| m.contains("ControlMaster=yes"))
        .filter_map(|m| m.split_whitespace().next()?.parse().ok())
        .collect();
    assert!(!masters.is_empty(), "no master");
    for m in &masters {
        signal(*m, libc::SIGKILL);
    }
    let (code, err) = wait_exit(&mut run, Duration::from_secs(60));
    assert_eq!(code, 0, "{err}\n{}", log_text(&t.item));
    assert_eq!(r.starts(&t.id), 1);
    assert_eq!(table(&t.item), six_rows(None));

    let t = r.case("six.py", "server_alive_interval: 1\n");
    let (mut run, _) = spawn(&t, &[]);
    let t0 = r.wait_started(&t.id);
    sleep_until(t0, 1.5);
    let stopped = r.server.session_pids();
    r.server.signal_sessions(libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(5));
    for p in &stopped {
        signal(*p as u32, libc::SIGCONT);
    }
    let (code, err) = wait_exit(&mut run, Duration::from_secs(60));
    let log = log_text(&t.item);
    assert_eq!(code, 0, "{err}\n{log}");
    assert_eq!(r.starts(&t.id), 1, "{log}");
    assert_eq!(table(&t.item), six_rows(None), "{log}");
    r.nothing_left(&t.id);
}

/// Numbered lines across two drops: what stagerun echoed and scanned is
/// exactly what the suite printed, in order, each line once.
#[test]
fn every_line_is_echoed_and_scanned_exactly_once_across_two_drops() {
    let Some(r) = rig(Engine::Docker, Spec::scenario("pass")) else {
        return;
    };
    let t = r.case("numbered.py", "");
    let (mut run, echo) = spawn(&t, &[]);
    let t0 = r.wait_started(&t.id);
    for at in [1.7, 4.1] {
        sleep_until(t0, at);
        r.drop_sessions();
    }
    let (code, err) = wait_exit(&mut run, Duration::from_secs(60));
    let log = log_text(&t.item);
    assert_eq!(code, 0, "{err}\n{log}");
    let expected: Vec<String> = (1..=120).map(|i| format!("C{i} PASS line {i}")).collect();
    let echoed = std::fs::read_to_string(&echo).unwrap();
    let echoed: Vec<&str> = echoed.lines().collect();
    assert_eq!(echoed, expected, "the live echo");
    let rows = table(&t.item);
    assert_eq!(rows.len(), 120, "{log}");
    for (i, (id, status)) in rows.iter().enumerate() {
        assert_eq!(
            (id.as_str(), status.as_str()),
            (format!("C{}", i + 1).as_str(), "PASS")
        );
    }
    let stderr_lines: Vec<String> = (1..=12).map(|i| format!("stderr {}", i * 10)).collect();
    for l in &stderr_lines {
        assert_eq!(err.matches(&format!("{l}\n")).count(), 1, "{l} in\n{err}");
    }
    assert_eq!(t.front("reattaches"), "2", "{log}");
    assert_eq!(r.starts(&t.id), 1);
}

/// A FAIL line printed while no channel was there is read when it comes
/// back: FAILED, from the one run.
#[test]
fn a_fail_printed_while_the_channel_was_down_is_failed() {
    let Some(mut r) = rig(Engine::Docker, Spec::scenario("pass")) else {
        return;
    };
    let t = r.case("fail_while_away.py", "reattach_attempts: 10\n");
    let (mut run, _) = spawn(&t, &[]);
    r.wait_started(&t.id);
    r.cut_off();
    r.c.exec(&["sh", "-c", &format!("touch /tmp/down-{}", t.id)]);
    std::thread::sleep(Duration::from_secs(3));
    r.server.restart();
    let (code, err) = wait_exit(&mut run, Duration::from_secs(90));
    let log = log_text(&t.item);
    assert_eq!(code, 1, "{err}\n{log}");
    assert_eq!(t.front("staging_status"), "FAILED", "{log}");
    assert!(
        table(&t.item).contains(&("C2".to_string(), "FAIL".to_string())),
        "{log}"
    );
    assert_eq!(r.starts(&t.id), 1);
}

fn killed_runner(engine: Engine) {
    let Some(r) = rig(engine, Spec::scenario("pass")) else {
        return;
    };
    let t = r.case("six.py", "");
    let (mut run, _) = spawn(&t, &[]);
    let t0 = r.wait_started(&t.id);
    sleep_until(t0, 2.0);
    signal(run.id(), libc::SIGKILL);
    let _ = run.wait();
    let out = t.cmd().arg("--json").assert().get_output().clone();
    let v = json(&out.stdout);
    let log = log_text(&t.item);
    assert_eq!(out.status.code(), Some(0), "{v}\n{log}");
    assert_eq!(v["adopted"], true, "{v}");
    assert!(v["adopted_run"]["started_at"].is_string(), "{v}");
    assert!(log.contains("- Adopted:"), "{log}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("adopted"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(r.starts(&t.id), 1, "{log}");
    assert_eq!(table(&t.item), six_rows(None), "{log}");
    r.nothing_left(&t.id);
}

#[test]
fn docker_a_killed_runners_run_is_adopted_by_the_same_command() {
    killed_runner(Engine::Docker);
}

#[test]
fn podman_a_killed_runners_run_is_adopted_by_the_same_command() {
    killed_runner(Engine::Podman);
}

/// Killed, and run again after the run's deadline: the end the supervisor
/// recorded (it stopped the suite at the deadline) is the verdict, and
/// nothing of the suite is left.
#[test]
fn a_rerun_after_the_deadline_reads_the_recorded_end() {
    let Some(r) = rig(Engine::Docker, Spec::scenario("pass")) else {
        return;
    };
    let t = r.case("hang.py", "timeout: 6\ngrace: 1\ninfra_retries: 0\n");
    let (mut run, _) = spawn(&t, &[]);
    r.wait_started(&t.id);
    signal(run.id(), libc::SIGKILL);
    let _ = run.wait();
    std::thread::sleep(Duration::from_secs(8));
    r.nothing_left(&t.id);
    let state = r.c.exec(&[
        "sh",
        "-c",
        &format!(
            "cd /tmp/stagerun-{}/{}.lock && ls && cat owner status follower",
            t.id.to_lowercase(),
            t.id
        ),
    ]);
    let out = t.cmd().arg("--json").assert().code(75).get_output().clone();
    let v = json(&out.stdout);
    assert_eq!(
        v["adopted"],
        true,
        "{v}\nthe run's folder before: {state}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(r.starts(&t.id), 1);
    assert!(
        log_text(&t.item).contains("C1 | PASS"),
        "{}",
        log_text(&t.item)
    );
}

/// A second invocation while the first is attached: busy, and the first
/// reads its run to the end untouched.
#[test]
fn a_second_invocation_while_the_first_is_attached_is_busy() {
    let Some(r) = rig(Engine::Docker, Spec::scenario("pass")) else {
        return;
    };
    let t = r.case("six.py", "");
    let (mut run, _) = spawn(&t, &[]);
    r.wait_started(&t.id);
    // This machine's lock says busy at once.
    let here = t.cmd().arg("--json").assert().code(75).get_output().clone();
    assert!(
        json(&here.stdout)["reason"]
            .as_str()
            .unwrap()
            .contains("busy")
    );
    // Another machine (the same work item checked out elsewhere) reaches
    // the staging host: the run there has a follower attached, so busy too.
    let elsewhere = Sandbox::new();
    let item = elsewhere.work_item(&t.id);
    let there = stagerun(t.sb.path())
        .arg("run")
        .arg(&item)
        .args(["--repo", "orch-core", "--json"])
        .assert()
        .code(75)
        .get_output()
        .clone();
    let v = json(&there.stdout);
    assert_eq!(v["outcome"], "busy", "{v}");
    let (code, err) = wait_exit(&mut run, Duration::from_secs(60));
    assert_eq!(code, 0, "{err}");
    assert_eq!(r.starts(&t.id), 1);
    assert_eq!(table(&t.item), six_rows(None));
}

/// The channel never comes back: HOLD, and the supervisor still stops the
/// suite at its deadline: nothing of it is left in the container.
#[test]
fn a_channel_that_never_comes_back_is_hold_and_the_deadline_still_holds() {
    let Some(mut r) = rig(Engine::Docker, Spec::scenario("pass")) else {
        return;
    };
    let t = r.case("hang.py", "timeout: 8\ngrace: 1\nreattach_attempts: 3\n");
    let (mut run, _) = spawn(&t, &[]);
    r.wait_started(&t.id);
    r.cut_off();
    let (code, err) = wait_exit(&mut run, Duration::from_secs(60));
    let log = log_text(&t.item);
    assert_eq!(code, 75, "{err}\n{log}");
    assert_ne!(t.front("staging_status"), "FAILED");
    std::thread::sleep(Duration::from_secs(2));
    r.nothing_left(&t.id);
    assert_eq!(r.starts(&t.id), 1);
}

/// The container restarted mid-suite: its processes, the suite's
/// supervisor among them, are gone: HOLD "run lost", never a second run;
/// the next run says what happened to the earlier one.
#[test]
fn a_container_restarted_mid_suite_is_a_lost_run_not_a_second_one() {
    let Some(r) = rig(Engine::Docker, Spec::scenario("pass")) else {
        return;
    };
    let t = r.case("six.py", "infra_retries: 2\n");
    let (mut run, _) = spawn(&t, &[]);
    let t0 = r.wait_started(&t.id);
    sleep_until(t0, 2.0);
    r.c.restart();
    let (code, err) = wait_exit(&mut run, Duration::from_secs(60));
    let log = log_text(&t.item);
    assert_eq!(code, 75, "{err}\n{log}");
    assert_eq!(t.front("rule"), "run-lost", "{log}");
    assert_eq!(r.starts(&t.id), 1, "a silent second run: {log}");
    assert_eq!(attempts(&t.item), 1, "{log}");
    let out = t.cmd().assert().code(0).get_output().clone();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("was lost where it ran"), "{said}");
}
