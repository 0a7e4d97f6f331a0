//! Real suites as gates: bats (TAP) and pytest (JUnit XML), run for real,
//! locally and inside a container over the real sshd. A row of the
//! semantics table in docs/suite-formats.md per test case.

use crate::common::docker::{self, Container, Engine, Spec};
use crate::common::sshd::Sshd;
use crate::common::*;
use crate::e2e_ssh::case;
use std::path::{Path, PathBuf};

fn bats() -> Result<(), String> {
    std::process::Command::new("bats")
        .arg("--version")
        .output()
        .map(|_| ())
        .map_err(|e| format!("bats not installed ({e}); apt-get install bats"))
}

/// A folder of suites: bats files, pytest files, and the entry scripts
/// stagerun runs (`sh ENTRY --work-item ID --mode M`).
fn suites(sb: &Sandbox, pytools: &Path, inside: Option<&str>) -> PathBuf {
    let root = inside
        .map(PathBuf::from)
        .unwrap_or_else(|| sb.path().join("suites"));
    let w = |name: &str, text: &str| {
        sb.write(&format!("suites/{name}"), text);
    };
    w(
        "pass.bats",
        "@test \"health answers\" { true; }\n@test \"migrations applied\" { true; }\n",
    );
    w(
        "fail.bats",
        "@test \"health answers\" { true; }\n@test \"migrations applied\" {\n  echo 'expected 0 pending, found 2'\n  false\n}\n",
    );
    w(
        "skip.bats",
        "@test \"health answers\" { true; }\n@test \"load profile\" { skip 'no load rig'; }\n",
    );
    w(
        "killed.bats",
        "@test \"first\" { true; }\n@test \"second\" { kill -KILL $PPID; kill -KILL 0; }\n@test \"third\" { true; }\n",
    );
    w(
        "todo.tap.sh",
        "echo 'TAP version 14'\necho '1..2'\necho 'ok 1 - health'\necho 'not ok 2 - flaky feature # TODO not done yet'\n",
    );
    w(
        "bail.tap.sh",
        "echo '1..3'\necho 'ok 1 - health'\necho 'Bail out! database unreachable'\n",
    );
    w(
        "noplan.tap.sh",
        "echo 'ok 1 - health'\necho 'ok 2 - migrations'\n",
    );
    for name in ["pass", "fail", "skip", "killed"] {
        w(
            &format!("bats-{name}.sh"),
            &format!("exec bats --tap {}/{name}.bats\n", root.display()),
        );
    }
    w(
        "pyproj/test_ok.py",
        "def test_health():\n    assert True\n\ndef test_migrations():\n    assert 1 + 1 == 2\n",
    );
    w(
        "pyproj-fail/test_fail.py",
        "def test_health():\n    assert True\n\ndef test_migrations():\n    assert 0 == 2, 'expected 0 pending migrations, found 2'\n",
    );
    w(
        "pyproj-skip/test_skip.py",
        "import pytest\n\ndef test_health():\n    assert True\n\n@pytest.mark.skip(reason='no load rig')\ndef test_load():\n    pass\n",
    );
    w(
        "pyproj-setup/test_setup.py",
        "import pytest\n\n@pytest.fixture\ndef db():\n    raise RuntimeError('db fixture failed')\n\ndef test_health():\n    assert True\n\ndef test_query(db):\n    assert db\n",
    );
    w("pyproj-none/test_none.py", "# no tests here\n");
    let py = inside
        .map(|_| "/pytools".to_string())
        .unwrap_or_else(|| pytools.display().to_string());
    for (name, proj) in [
        ("pass", "pyproj"),
        ("fail", "pyproj-fail"),
        ("skip", "pyproj-skip"),
        ("setup", "pyproj-setup"),
        ("none", "pyproj-none"),
    ] {
        w(
            &format!("pytest-{name}.sh"),
            &format!(
                "cd {root}/{proj} && PYTHONPATH={py} exec python3 -m pytest -q -p no:cacheprovider --junitxml=\"$REPORT\" .\n",
                root = root.display()
            ),
        );
    }
    w("pytest-noreport.sh", "echo 'C1 PASS looks fine'\nexit 0\n");
    sb.path().join("suites")
}

fn run_local(
    sb: &Sandbox,
    entry: &str,
    format: &str,
    report: Option<&Path>,
    extra: &[(&str, &str)],
) -> (i32, PathBuf) {
    let item = sb.work_item(&uid("ORCH"));
    let mut cmd = stagerun(sb.path());
    cmd.arg("run")
        .arg(&item)
        .args([
            "--repo",
            "r",
            "--transport",
            "local",
            "--no-push",
            "--python",
            "sh",
            "--suite-format",
            format,
        ])
        .arg("--check-script")
        .arg(sb.path().join("suites").join(entry));
    if let Some(r) = report {
        cmd.arg("--suite-report").arg(r).env("REPORT", r);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let code = cmd.assert().get_output().status.code().unwrap_or(-1);
    (code, item)
}

fn expect(item: &Path, code: i32, want_code: i32, verdict: &str, rule: &str) {
    let log = log_text(item);
    assert_eq!(code, want_code, "{log}");
    assert_eq!(
        front(item, "staging_status").as_deref(),
        Some(verdict),
        "{log}"
    );
    assert_eq!(front(item, "rule").as_deref(), Some(rule), "{log}");
}

#[test]
fn bats_tap_suites_locally() {
    if !require("bats", bats()) {
        return;
    }
    let sb = Sandbox::new();
    suites(&sb, Path::new("/nonexistent"), None);
    let (c, i) = run_local(&sb, "bats-pass.sh", "tap", None, &[]);
    expect(&i, c, 0, "SUCCESS", "suite-passed");
    assert_eq!(front(&i, "summary").as_deref(), Some("2/2 PASS"));
    let (c, i) = run_local(&sb, "bats-fail.sh", "tap", None, &[]);
    expect(&i, c, 1, "FAILED", "suite-failing-check");
    assert!(log_text(&i).contains("| migrations applied | FAIL |"));
    let (c, i) = run_local(&sb, "bats-skip.sh", "tap", None, &[]);
    expect(&i, c, 0, "SUCCESS", "suite-passed");
    assert!(
        front(&i, "summary")
            .unwrap()
            .contains("load profile skipped")
    );
    let (c, i) = run_local(&sb, "bats-killed.sh", "tap", None, &[]);
    assert_ne!(c, 0);
    assert_eq!(
        front(&i, "staging_status").as_deref(),
        Some("HOLD"),
        "{}",
        log_text(&i)
    );
    let (c, i) = run_local(&sb, "todo.tap.sh", "tap", None, &[]);
    expect(&i, c, 0, "SUCCESS", "suite-passed");
    assert!(front(&i, "summary").unwrap().contains("todo"));
    let (c, i) = run_local(&sb, "bail.tap.sh", "tap", None, &[]);
    expect(&i, c, 75, "HOLD", "suite-bailed-out");
    assert!(
        front(&i, "reason")
            .unwrap()
            .contains("database unreachable")
    );
    let (c, i) = run_local(&sb, "noplan.tap.sh", "tap", None, &[]);
    expect(&i, c, 75, "HOLD", "suite-incomplete");
}

#[test]
fn pytest_junit_suites_locally() {
    let Ok(tools) = crate::outputs::pytest() else {
        require(
            "pytest (target/pytools)",
            crate::outputs::pytest().map(|_| ()),
        );
        return;
    };
    let sb = Sandbox::new();
    suites(&sb, &tools, None);
    let report = sb.path().join("report.xml");
    let (c, i) = run_local(&sb, "pytest-pass.sh", "junit", Some(&report), &[]);
    expect(&i, c, 0, "SUCCESS", "suite-passed");
    assert_eq!(front(&i, "summary").as_deref(), Some("2/2 PASS"));
    assert!(
        log_text(&i).contains("| test_ok.test_health | PASS |"),
        "{}",
        log_text(&i)
    );
    let (c, i) = run_local(&sb, "pytest-fail.sh", "junit", Some(&report), &[]);
    expect(&i, c, 1, "FAILED", "suite-failing-check");
    assert!(log_text(&i).contains("expected 0 pending migrations"));
    let (c, i) = run_local(&sb, "pytest-skip.sh", "junit", Some(&report), &[]);
    expect(&i, c, 0, "SUCCESS", "suite-passed");
    let (c, i) = run_local(&sb, "pytest-setup.sh", "junit", Some(&report), &[]);
    expect(&i, c, 1, "FAILED", "suite-failing-check");
    let (c, i) = run_local(
        &sb,
        "pytest-setup.sh",
        "junit",
        Some(&report),
        &[("ORCH_STAGING_RUNNER_JUNIT_ERRORS", "hold")],
    );
    expect(&i, c, 75, "HOLD", "suite-errored");
    let (c, i) = run_local(&sb, "pytest-none.sh", "junit", Some(&report), &[]);
    expect(&i, c, 75, "HOLD", "pytest-no-tests");
    // Exit 0 but no report: never SUCCESS (and an old report does not count).
    std::fs::write(
        &report,
        "<testsuite name='old' tests='1'><testcase name='stale'/></testsuite>",
    )
    .unwrap();
    let (c, i) = run_local(&sb, "pytest-noreport.sh", "junit", Some(&report), &[]);
    expect(&i, c, 75, "HOLD", "suite-incomplete");
    // A missing --suite-report is a configuration error.
    let (c, _) = run_local(&sb, "pytest-pass.sh", "junit", None, &[]);
    assert_eq!(c, 78);
}

#[test]
fn real_suites_inside_a_container_over_ssh() {
    if !docker::ready(Engine::Docker) || !require("bats", bats()) {
        return;
    }
    let Ok(tools) = crate::outputs::pytest() else {
        require(
            "pytest (target/pytools)",
            crate::outputs::pytest().map(|_| ()),
        );
        return;
    };
    let server = Sshd::start();
    let sb = Sandbox::new();
    let dir = suites(&sb, &tools, Some("/suites"));
    let c = Container::start(
        Engine::Docker,
        Spec::scenario("pass")
            .mount(&dir.display().to_string(), "/suites")
            .mount(&tools.display().to_string(), "/pytools")
            .env("REPORT", "/tmp/report.xml"),
    );
    for (entry, format, code, verdict, rule) in [
        ("bats-pass.sh", "tap", 0, "SUCCESS", "suite-passed"),
        ("bats-fail.sh", "tap", 1, "FAILED", "suite-failing-check"),
        ("bail.tap.sh", "tap", 75, "HOLD", "suite-bailed-out"),
        ("pytest-pass.sh", "junit", 0, "SUCCESS", "suite-passed"),
        (
            "pytest-fail.sh",
            "junit",
            1,
            "FAILED",
            "suite-failing-check",
        ),
        ("pytest-none.sh", "junit", 75, "HOLD", "pytest-no-tests"),
        (
            "pytest-noreport.sh",
            "junit",
            75,
            "HOLD",
            "suite-incomplete",
        ),
    ] {
        let t = case(
            &server,
            "client",
            "known_hosts",
            &c.name,
            &format!(
                "python: sh\ncheck_script: /suites/{entry}\nsuite_format: {format}\nsuite_report: /tmp/report.xml\ninfra_retries: 0\n"
            ),
        );
        let logins = server.logins();
        let out = t.run().code(code).get_output().clone();
        t.check(
            &out,
            verdict,
            if code == 75 {
                "permanent-env"
            } else {
                "suite-ran"
            },
            rule,
            1,
        );
        if format == "junit" {
            assert_eq!(
                server.logins() - logins,
                1,
                "the report is read over the same connection"
            );
        }
    }
}

/// A report path the suite made a FIFO, a symlink to /dev/zero or a folder
/// is said as what it is, never "no report at …", and the verdict is HOLD.
/// Read here, a FIFO once held stagerun in open() for ever (SIGTERM too).
#[test]
fn a_report_path_that_is_not_a_file_is_said_as_it_is() {
    let sb = Sandbox::new();
    let make = "case \"$KIND\" in fifo) mkfifo \"$REPORT\";; zero) ln -s /dev/zero \"$REPORT\";; folder) mkdir \"$REPORT\";; esac\necho 'C1 PASS looks fine'\nexit 0\n";
    sb.write("suites/special.sh", make);
    let cases = [
        ("fifo", "it is a FIFO (named pipe), not a regular file"),
        (
            "zero",
            "it is a symbolic link to a character device, not a regular file",
        ),
        ("folder", "it is a folder, not a regular file"),
    ];
    let check = |item: &Path, code: Option<i32>, said: &str| {
        let log = log_text(item);
        assert_eq!(code, Some(75), "{log}");
        assert_eq!(front(item, "staging_status").as_deref(), Some("HOLD"));
        let reason = front(item, "reason").unwrap_or_default();
        assert!(reason.contains(said), "{reason}");
        assert!(!reason.contains("no report at"), "{reason}");
    };
    for (kind, said) in cases {
        let report = sb.path().join(format!("report-{kind}"));
        let item = sb.work_item(&uid("ORCH"));
        let out = stagerun(sb.path())
            .arg("run")
            .arg(&item)
            .args([
                "--repo",
                "r",
                "--transport",
                "local",
                "--no-push",
                "--python",
                "sh",
            ])
            .args(["--suite-format", "junit", "--retries", "0"])
            .arg("--check-script")
            .arg(sb.path().join("suites/special.sh"))
            .arg("--suite-report")
            .arg(&report)
            .env("REPORT", &report)
            .env("KIND", kind)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        check(&item, out.status.code(), said);
    }
    // Where the suite runs (in a container, read back through the channel).
    if !require("docker engine", Engine::Docker.available()) {
        return;
    }
    let c = Container::start(
        Engine::Docker,
        Spec::scenario("pass").mount(&sb.path().join("suites").display().to_string(), "/suites"),
    );
    for (kind, said) in cases {
        let item = sb.work_item(&uid("ORCH"));
        let report = format!("/tmp/report-{}", uid("r").to_lowercase());
        let out = stagerun(sb.path())
            .arg("run")
            .arg(&item)
            .args([
                "--repo",
                "r",
                "--transport",
                "docker",
                "--no-push",
                "--python",
                "sh",
            ])
            .args([
                "--suite-format",
                "junit",
                "--retries",
                "0",
                "--container",
                &c.name,
            ])
            .args([
                "--check-script",
                "/suites/special.sh",
                "--suite-report",
                &report,
            ])
            .env(
                "ORCH_STAGING_RUNNER_DOCKER_OPTIONS",
                format!("--env=REPORT={report} --env=KIND={kind}"),
            )
            .env(
                "ORCH_STAGING_RUNNER_REMOTE_STATE_DIR",
                format!("/tmp/{}", uid("s").to_lowercase()),
            )
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap();
        check(&item, out.status.code(), said);
    }
}
