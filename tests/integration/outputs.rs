//! Machine outputs a CI can trust, on every exit path: one schema-valid
//! JSON object, JUnit that a strict schema and a real consumer accept with
//! stable test identities, GitHub workflow commands fenced off from the
//! suite, GitLab sections.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder of the Python tools the tests use, installed by .ci/run
/// into target/pytools, when it holds each of `tools` (a tool's name and
/// the package folder it installs); else an error naming the missing ones.
pub fn pytools_with(tools: &[(&str, &str)]) -> Result<PathBuf, String> {
    let dir = std::env::var_os("STAGERUN_PYTOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/pytools"));
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(_, package)| !dir.join(package).is_dir())
        .map(|(name, _)| *name)
        .collect();
    if missing.is_empty() {
        Ok(dir)
    } else {
        Err(format!(
            "{} has no {} (bash .ci/run installs it)",
            dir.display(),
            missing.join(" and no ")
        ))
    }
}

/// The Python tools' folder, for junitparser (a real JUnit consumer).
pub fn pytools() -> Result<PathBuf, String> {
    pytools_with(&[("junitparser", "junitparser")])
}

/// The Python tools' folder, for pytest (real JUnit XML suites).
pub fn pytest() -> Result<PathBuf, String> {
    pytools_with(&[("pytest", "_pytest")])
}

fn run_json(cmd: &mut assert_cmd::Command, code: i32) -> serde_json::Value {
    let out = cmd.assert().code(code).get_output().clone();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().count(),
        1,
        "exactly one line on stdout: {text}"
    );
    let v = json(&out.stdout);
    assert_schema_valid(&v);
    assert_eq!(v["exit_code"], code, "{v}");
    v
}

#[test]
fn every_exit_path_prints_one_schema_valid_json_object() {
    let sb = Sandbox::new();
    for (scenario, code, verdict) in [
        ("pass", 0, "SUCCESS"),
        ("fail", 1, "FAILED"),
        ("silent", 75, "HOLD"),
    ] {
        let item = sb.work_item(&uid("ORCH"));
        let v = run_json(sb.run_local(&item, scenario).arg("--json"), code);
        assert_eq!(v["verdict"], verdict);
    }
    let item = sb.work_item(&uid("ORCH"));
    // Usage errors: a bad flag, a missing work item.
    let v = run_json(stagerun(sb.path()).args(["run", "--json", "--bogus"]), 2);
    assert_eq!(
        (v["verdict"].as_str(), v["error"]["kind"].as_str()),
        (Some("ERROR"), Some("usage"))
    );
    let v = run_json(
        stagerun(sb.path()).args(["run", "/nonexistent/ORCH-1", "--repo", "r", "--json"]),
        2,
    );
    assert_eq!(v["error"]["kind"], "usage");
    // Configuration error.
    let v = run_json(
        sb.run_local(&item, "pass")
            .arg("--json")
            .env("ORCH_STAGING_RUNNER_TIMEOUT", "soon"),
        78,
    );
    assert_eq!(v["error"]["kind"], "config");
    // Skipped.
    let v = run_json(
        sb.run_local(&item, "pass")
            .arg("--json")
            .env("ORCH_STAGING_RUNNER_ENABLED", "false"),
        3,
    );
    assert_eq!(v["verdict"], "SKIPPED");
    // Busy: another run holds the work item.
    let started = sb.path().join("started");
    let mut first = sb
        .run_local_std(&item, "slow")
        .env("STAGING_CHECK_SLOW_SECONDS", "3")
        .env("STAGING_CHECK_STARTED_FILE", &started)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&started, std::time::Duration::from_secs(20));
    let v = run_json(sb.run_local(&item, "pass").arg("--json"), 75);
    assert_eq!(v["verdict"], "HOLD");
    assert!(v["reason"].as_str().unwrap().contains("busy"), "{v}");
    let _ = wait_exit(&mut first, std::time::Duration::from_secs(30));
    // Internal error (an injected panic).
    let v = run_json(
        sb.run_local(&item, "pass")
            .arg("--json")
            .env("STAGERUN_FAULT", "attempt-started"),
        70,
    );
    assert_eq!(v["error"]["kind"], "internal");
    // gate, classify and preflight too.
    let empty = sb.work_item(&uid("ORCH"));
    let v = run_json(
        stagerun(sb.path()).arg("gate").arg(&empty).arg("--json"),
        75,
    );
    assert_eq!(v["verdict"], "HOLD");
    let out = stagerun(sb.path())
        .args(["classify", "--json"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert_schema_valid(&json(&out.stdout));
}

fn junit(sb: &Sandbox, item: &Path, scenario: &str, code: i32, env: &[(&str, &str)]) -> String {
    let path = sb.path().join("junit.xml");
    let mut cmd = sb.run_local(item, scenario);
    cmd.arg("--junit").arg(&path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.assert().code(code);
    std::fs::read_to_string(&path).unwrap()
}

fn testcases(xml: &str) -> Vec<(String, String)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut cases = Vec::new();
    let mut current: Option<String> = None;
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "testcase" => {
                let name = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.as_ref() == "name")
                    .map(|a| a.value.to_string())
                    .unwrap();
                cases.push((name.clone(), "passed".to_string()));
                current = Some(name);
            }
            Event::Start(e) | Event::Empty(e) if current.is_some() => {
                let tag = e.name().as_ref().to_string();
                if let Some(last) = cases.last_mut()
                    && matches!(
                        tag.as_str(),
                        "failure" | "error" | "skipped" | "rerunFailure" | "flakyFailure"
                    )
                {
                    last.1 = tag;
                }
            }
            Event::End(e) if e.name().as_ref() == "testcase" => current = None,
            Event::Eof => break,
            _ => {}
        }
    }
    cases
}

fn xsd_valid(xml: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("r.xml");
    std::fs::write(&f, xml).unwrap();
    let out = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(repo_root().join("tests/data/junit-jenkins-xunit.xsd"))
        .arg(&f)
        .output()
        .map_err(|e| format!("xmllint: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn junit_names_are_stable_and_the_file_is_valid_for_strict_consumers() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let pass = junit(&sb, &item, "pass", 0, &[]);
    let fail = junit(&sb, &item, "fail", 1, &[]);
    let names = |xml: &str| testcases(xml).into_iter().map(|c| c.0).collect::<Vec<_>>();
    assert_eq!(
        names(&pass),
        names(&fail),
        "test identity must not change with the outcome"
    );
    assert!(
        names(&pass).contains(&"C4".to_string())
            && names(&pass).last().unwrap() == "infrastructure"
    );
    let c4 = testcases(&fail).into_iter().find(|c| c.0 == "C4").unwrap();
    assert_eq!(c4.1, "failure");
    assert!(
        fail.contains("expected 0 pending migrations"),
        "the detail is in the failure message"
    );
    let hold = junit(&sb, &item, "silent", 75, &[]);
    let infra = testcases(&hold)
        .into_iter()
        .find(|c| c.0 == "infrastructure")
        .unwrap();
    assert_eq!(infra.1, "error");
    assert!(hold.contains("<system-err>"));
    // Retries show as reruns; a hostile suite cannot break the XML.
    let script = sb.write(
        "hostile.py",
        "import sys\nprint('C1 PASS \\x1b[32mgreen\\x1b[0m \\ufffe <b>&\"x\"</b> \\x01')\nprint('C2 FAIL boom \\ufffe')\nsys.exit(1)\n",
    );
    let path = sb.path().join("hostile.xml");
    sb.run_local(&item, "pass")
        .arg("--check-script")
        .arg(&script)
        .arg("--junit")
        .arg(&path)
        .assert()
        .code(1);
    let hostile = std::fs::read_to_string(&path).unwrap();
    assert!(
        !hostile.contains('\u{fffe}') && !hostile.contains('\x1b') && !hostile.contains('\x01'),
        "{hostile}"
    );
    let flaky = sb.write("exit5.py", "import sys\nsys.exit(5)\n");
    let path = sb.path().join("retried.xml");
    sb.run_local(&item, "pass")
        .arg("--check-script")
        .arg(&flaky)
        .arg("--junit")
        .arg(&path)
        .assert()
        .code(75);
    let retried = std::fs::read_to_string(&path).unwrap();
    assert_eq!(retried.matches("<rerunFailure").count(), 2, "{retried}");
    let skipped = junit(
        &sb,
        &item,
        "pass",
        3,
        &[("ORCH_STAGING_RUNNER_ENABLED", "false")],
    );
    assert!(
        skipped.contains(r#"<testsuite name="deploy-staging" "#),
        "{skipped}"
    );
    for xml in [&pass, &fail, &hold, &hostile, &retried, &skipped] {
        if let Err(e) = xsd_valid(xml) {
            panic!("not valid for the Jenkins xunit schema: {e}\n{xml}");
        }
    }
    // And a real consumer reads it.
    let Ok(tools) = pytools() else {
        require("junitparser (a real JUnit consumer)", pytools().map(|_| ()));
        return;
    };
    let py = "import sys\nfrom junitparser.xunit2 import JUnitXml\nfor s in JUnitXml.fromfile(sys.argv[1]):\n    for c in s:\n        print(c.name, 'passed' if c.is_passed else 'skipped' if c.is_skipped else 'error' if c.is_error else 'failed')\n";
    let f = sb.write("fail.xml", &fail);
    let out = Command::new("python3")
        .arg("-c")
        .arg(py)
        .arg(&f)
        .env("PYTHONPATH", &tools)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("C4 failed")
            && text.contains("C1 passed")
            && text.contains("infrastructure passed"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn github_actions_commands_agree_with_the_exit_code_and_fence_off_the_suite() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let summary = sb.path().join("summary.md");
    let outputs = sb.path().join("outputs.txt");
    let gh_out = |args: &[&str], env: &[(&str, &str)], code: i32| -> (String, String) {
        let _ = std::fs::remove_file(&outputs);
        let mut cmd = sb.run_local(&item, "script");
        cmd.args(args)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_OUTPUT", &outputs)
            .env("STAGING_CHECK_STDOUT", "C1 PASS ok\\n::error file=app.py,line=1::injected\\n::add-mask::C1\\nC2 FAIL pipe|inside\\n")
            .env("STAGING_CHECK_EXIT", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.assert().code(code).get_output().clone();
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let gh = |args: &[&str], env: &[(&str, &str)], code: i32| gh_out(args, env, code).0;
    let step_outputs = || std::fs::read_to_string(&outputs).unwrap_or_default();
    let out = gh(&[], &[], 1);
    let log = item.join("15-staging-log.md");
    assert_eq!(
        step_outputs(),
        format!("verdict=FAILED\nexit-code=1\nlog-path={}\n", log.display())
    );
    let stop = out
        .lines()
        .find_map(|l| l.strip_prefix("::stop-commands::"))
        .expect("commands stopped")
        .to_string();
    assert!(stop.len() >= 32, "a random token: {stop}");
    let start = out.find("::stop-commands::").unwrap();
    let end = out.find(&format!("::{stop}::")).expect("commands resumed");
    let injected = out.find("::error file=app.py").unwrap();
    assert!(start < injected && injected < end, "{out}");
    assert!(out.contains("::group::") && out.contains("::endgroup::"));
    assert!(
        out.lines()
            .any(|l| l.starts_with("::error title=deploy-staging") && l.contains("exit 1")),
        "{out}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("| C2 | FAIL | pipe\\|inside |"),
        "a detail stays in its cell: {md}"
    );
    // Usage, config, busy and skipped get their annotation and summary too.
    for (env, code, level) in [
        (vec![("ORCH_STAGING_RUNNER_TIMEOUT", "soon")], 78, "::error"),
        (
            vec![("ORCH_STAGING_RUNNER_ENABLED", "false")],
            3,
            "::notice",
        ),
    ] {
        let out = gh(&[], &env, code);
        assert!(
            out.lines()
                .any(|l| l.starts_with(level) && l.contains(&format!("exit {code}"))),
            "{code}: {out}"
        );
    }
    let out = gh(&["--retries", "nope"], &[], 78);
    assert!(out.contains("::error"), "{out}");
    assert!(step_outputs().starts_with("verdict=ERROR\nexit-code=78\n"));
    // Arguments that do not parse still give the step its outputs.
    let out = gh(&["--no-such-flag"], &[], 2);
    assert!(out.contains("::error") && out.contains("exit 2"), "{out}");
    assert!(step_outputs().starts_with("verdict=ERROR\nexit-code=2\n"));
    // Under --json, stdout is the one JSON object; the runner reads the
    // workflow commands from stderr, fence included.
    let (out, err) = gh_out(&["--json"], &[], 1);
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("stdout is one JSON object");
    assert_eq!(v["exit_code"], 1);
    let (start, injected, end) = (
        err.find("::stop-commands::").expect("fence on stderr"),
        err.find("::error file=app.py").unwrap(),
        err.rfind("::endgroup::").unwrap(),
    );
    assert!(start < injected && injected < end, "{err}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("SKIPPED (exit 3)") && md.contains("ERROR (exit 78)"),
        "{md}"
    );
}

#[test]
fn gitlab_sections_collapse_on_success_and_expand_the_result_otherwise() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let out = |scenario: &str, code: i32| {
        String::from_utf8(
            sb.run_local(&item, scenario)
                .env("GITLAB_CI", "true")
                .assert()
                .code(code)
                .get_output()
                .stdout
                .clone(),
        )
        .unwrap()
    };
    let pass = out("pass", 0);
    let start = pass.find("section_start:").expect("section start");
    let c1 = pass.find("C1 PASS").unwrap();
    let end = pass.find("section_end:").expect("section end");
    assert!(start < c1 && c1 < end, "{pass:?}");
    assert!(pass.contains("stagerun_suite[collapsed=true]"));
    assert!(!pass.contains("stagerun_result"));
    let fail = out("fail", 1);
    let result = fail
        .find("section_start:")
        .and_then(|_| fail.find(":stagerun_result\r"))
        .expect("an expanded result section");
    assert!(result > fail.find("section_end:").unwrap());
    assert!(fail[result..].contains("C4 FAIL"), "{fail:?}");
}

/// The smaller commands' `--json` objects validate against the schemas
/// generated from their types (docs/*.schema.json), as printed for real:
/// dry run, config, classify with --explain, disconnect, preflight.
#[test]
fn the_smaller_commands_json_objects_match_their_schemas() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-115");
    sb.write("suite.sh", "echo 'C1 PASS ok'\n");
    sb.write("err.txt", "bash: docker: command not found\n");
    let local = [
        "--repo",
        "r",
        "--transport",
        "local",
        "--python",
        "/bin/sh",
        "--json",
    ];
    let object = |args: &[&str], code: i32| {
        let out = stagerun(sb.path())
            .args(args)
            .assert()
            .code(code)
            .get_output()
            .clone();
        json(&out.stdout)
    };
    let mut dry = vec!["run", item.to_str().unwrap(), "--dry-run"];
    dry.extend(local);
    dry.extend(["--check-script", "suite.sh"]);
    let v = object(&dry, 0);
    assert_eq!(v["schema"], "stagerun.dry-run/1", "{v}");
    assert_valid_against(&v, "docs/dry-run.schema.json");

    let v = object(&["config", "--repo", "r", "--json"], 0);
    assert_valid_against(&v, "docs/config.schema.json");

    let v = object(
        &[
            "classify",
            "--exit-code",
            "1",
            "--stderr-file",
            "err.txt",
            "--explain",
            "--json",
        ],
        0,
    );
    assert!(v["near"].is_array(), "{v}");
    assert_valid_against(&v, "docs/classify.schema.json");

    let v = object(
        &[
            "disconnect",
            "--repo",
            "r",
            "--transport",
            "local",
            "--json",
        ],
        0,
    );
    assert_eq!(v["closed"], false, "{v}");
    assert_valid_against(&v, "docs/disconnect.schema.json");

    let mut pre = vec!["preflight"];
    pre.extend(local);
    pre.extend(["--check-script", "suite.sh"]);
    let out = stagerun(sb.path()).args(&pre).output().unwrap();
    let v = json(&out.stdout);
    assert!(v["steps"].is_array(), "{v}");
    assert_eq!(
        Some(i32::from(v["exit_code"].as_u64().unwrap() as u8)),
        out.status.code(),
        "{v}"
    );
    assert_valid_against(&v, "docs/preflight.schema.json");
}
