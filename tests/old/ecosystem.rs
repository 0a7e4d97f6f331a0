//! Output formats and CI integrations: JSON schema, JUnit, GitHub Actions,
//! GitLab CI, colour rules, completions, man page, `stagerun config`.

mod common;
use common::*;
use predicates::prelude::*;
use serde_json::Value;

/// A small validator for the subset of JSON Schema docs/result.schema.json uses.
fn validate(schema: &Value, v: &Value, path: &str) {
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().map(|x| x.as_str().unwrap()).collect(),
            _ => unreachable!(),
        };
        let actual = match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let ok = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
        assert!(ok, "{path}: {actual} is not {types:?}");
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        assert!(options.contains(v), "{path}: {v} not in {options:?}");
    }
    if let Some(c) = schema.get("const") {
        assert_eq!(c, v, "{path}");
    }
    if let Some(Value::Array(req)) = schema.get("required") {
        for k in req {
            assert!(v.get(k.as_str().unwrap()).is_some(), "{path}: missing {k}");
        }
    }
    if let (Some(Value::Object(props)), Value::Object(obj)) = (schema.get("properties"), v) {
        for (k, sub) in props {
            if let Some(x) = obj.get(k) {
                validate(sub, x, &format!("{path}.{k}"));
            }
        }
        for k in obj.keys() {
            assert!(props.contains_key(k), "{path}: undocumented field {k}");
        }
    }
    if let (Some(items), Value::Array(arr)) = (schema.get("items"), v) {
        for (i, x) in arr.iter().enumerate() {
            validate(items, x, &format!("{path}[{i}]"));
        }
    }
}

#[test]
fn json_result_matches_the_documented_schema() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("docs/result.schema.json")).unwrap(),
    )
    .unwrap();
    let sb = Sandbox::new();
    for (scenario, code) in [("pass", 0), ("fail", 1), ("silent", 75)] {
        let item = sb.work_item("ORCH-501");
        let out = sb
            .run_local(&item, scenario)
            .arg("--json")
            .assert()
            .code(code)
            .get_output()
            .stdout
            .clone();
        let v: Value = serde_json::from_slice(&out).unwrap();
        validate(&schema, &v, "$");
        assert_eq!(v["exit_code"], code);
    }
}

fn junit_counts(xml: &str) -> (usize, usize, usize, usize) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut cases, mut failures, mut skipped, mut errors) = (0, 0, 0, 0);
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                "testcase" => cases += 1,
                "failure" => failures += 1,
                "skipped" => skipped += 1,
                "error" => errors += 1,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    (cases, failures, skipped, errors)
}

#[test]
fn junit_report_has_a_testcase_per_check_and_one_for_infra() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-502");
    let junit = sb.path().join("junit.xml");
    sb.run_local(&item, "fail")
        .arg("--junit")
        .arg(&junit)
        .assert()
        .code(1);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(junit_counts(&xml), (12, 1, 2, 0), "{xml}");
    assert!(xml.contains(r#"failures="1" errors="0" skipped="2""#));
    sb.run_local(&item, "silent")
        .arg("--junit")
        .arg(&junit)
        .assert()
        .code(75);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(junit_counts(&xml), (1, 0, 0, 1), "{xml}");
    assert!(xml.contains(r#"type="suite-no-evidence""#));
    // Suite text with XML metacharacters stays well-formed.
    let script = sb.write(
        "odd.py",
        "print('C1 FAIL <b>&\"quoted\"</b> \\x01')\nimport sys; sys.exit(1)\n",
    );
    sb.run_local(&item, "pass")
        .arg("--check-script")
        .arg(&script)
        .arg("--junit")
        .arg(&junit)
        .assert()
        .code(1);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(junit_counts(&xml), (2, 1, 0, 0), "{xml}");
}

#[test]
fn github_actions_summary_and_annotations() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-503");
    let summary = sb.path().join("summary.md");
    let gh = |scenario: &str, code: i32| {
        sb.run_local(&item, scenario)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .arg("--quiet")
            .assert()
            .code(code)
            .get_output()
            .stdout
            .clone()
    };
    let out = String::from_utf8(gh("fail", 1)).unwrap();
    assert!(
        out.lines()
            .any(|l| l.starts_with("::error title=deploy-staging ORCH-503::staging suite FAILED")),
        "{out}"
    );
    let out = String::from_utf8(gh("silent", 75)).unwrap();
    assert!(
        out.lines().any(|l| l.starts_with("::warning title=")),
        "{out}"
    );
    let out = String::from_utf8(gh("pass", 0)).unwrap();
    assert!(
        !out.contains("::error") && !out.contains("::warning"),
        "{out}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert_eq!(
        md.matches("### ").count(),
        3,
        "appended, not replaced: {md}"
    );
    assert!(md.contains("deploy-staging ORCH-503: FAILED") && md.contains("| C4 | FAIL |"));
    // Without GITHUB_ACTIONS nothing is written there.
    std::fs::remove_file(&summary).unwrap();
    sb.run_local(&item, "pass")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .assert()
        .code(0);
    assert!(!summary.exists());
}

#[test]
fn gitlab_collapsible_section_around_suite_output() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-504");
    let out = sb
        .run_local(&item, "pass")
        .env("GITLAB_CI", "true")
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let start = out.find("section_start:").expect("section start");
    let c1 = out.find("C1 PASS").unwrap();
    let end = out.find("section_end:").expect("section end");
    assert!(start < c1 && c1 < end, "{out:?}");
    assert!(out.contains("stagerun_suite[collapsed=true]"));
}

#[test]
fn no_colour_when_not_a_terminal_or_with_no_color() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-505");
    let out = sb
        .run_local(&item, "pass")
        .assert()
        .code(0)
        .get_output()
        .stderr
        .clone();
    assert!(!out.contains(&0x1b), "escape codes on a pipe");
    if !pty_available() {
        return;
    }
    // Under a pty: colour, unless NO_COLOR.
    let cmd = format!(
        "ORCH_STAGING_RUNNER_CHECK_SCRIPT={} STAGING_CHECK_SCENARIO=pass {} run {} --repo r --transport local --no-push --quiet",
        check_script().display(),
        assert_cmd::cargo::cargo_bin!("stagerun").display(),
        item.display()
    );
    let tty = |extra: &str| under_pty(extra, &cmd);
    assert!(tty("").contains("\x1b[1;32mSUCCESS"), "{:?}", tty(""));
    assert!(!tty("NO_COLOR=1").contains("\x1b[1;32m"));
}

fn pty_available() -> bool {
    let ok = std::path::Path::new("/usr/bin/script").exists();
    if !ok {
        eprintln!("SKIPPED: util-linux `script` not available for a pty test");
    }
    ok
}

/// Runs `cmd` on a pseudo-terminal, outside any CI, with `env` assignments
/// added; returns what the terminal showed.
fn under_pty(env: &str, cmd: &str) -> String {
    let out = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("env -u CI -u GITHUB_ACTIONS -u GITLAB_CI {env} {cmd}"),
            "/dev/null",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn completions_and_man_page() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish"] {
        stagerun(sb.path())
            .args(["completions", shell])
            .assert()
            .code(0)
            .stdout(predicate::str::contains("preflight"));
    }
    stagerun(sb.path())
        .args(["completions", "tcsh"])
        .assert()
        .code(2);
    stagerun(sb.path())
        .arg("man")
        .assert()
        .code(0)
        .stdout(predicate::str::contains(".TH stagerun"));
}

#[test]
fn config_shows_every_value_with_its_source_and_no_secrets() {
    let sb = Sandbox::new();
    sb.write("stagerun.yaml", "host: file-host\nalert_command: 'curl -H \"Authorization: Bearer s3cr3t\" https://alerts'\nrepos:\n  core: { container: core-app }\n");
    let out = stagerun(sb.path())
        .args(["config", "--repo", "core"])
        .env("ORCH_STAGING_RUNNER_TIMEOUT", "120")
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let line = |key: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("host").contains("file-host") && line("host").contains("key `host` in stagerun.yaml"),
        "{out}"
    );
    assert!(line("container").contains("repos.core.container"), "{out}");
    assert!(
        line("timeout").contains("environment variable ORCH_STAGING_RUNNER_TIMEOUT"),
        "{out}"
    );
    assert!(line("grace").contains("built-in default"), "{out}");
    assert!(!out.contains("s3cr3t"), "secret printed: {out}");
    let out = stagerun(sb.path())
        .args(["config", "--json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert!(
        v["values"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["key"] == "transport")
    );
}

#[test]
fn live_elapsed_time_on_a_terminal_and_heartbeat_lines_in_ci() {
    if !pty_available() {
        return;
    }
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-506");
    let cmd = format!(
        "ORCH_STAGING_RUNNER_CHECK_SCRIPT={} STAGING_CHECK_SCENARIO=slow STAGING_CHECK_SLOW_SECONDS=2.5 ORCH_STAGING_RUNNER_HEARTBEAT=1 {} run {} --repo r --transport local --no-push",
        check_script().display(),
        assert_cmd::cargo::cargo_bin!("stagerun").display(),
        item.display()
    );
    let tty = under_pty("", &cmd);
    assert!(tty.contains("\r\x1b[2Kstagerun: running 1s"), "{tty:?}");
    assert!(!tty.contains("still running after"), "{tty:?}");
    // In CI, even on a pty: plain heartbeat lines, no status line.
    let ci = under_pty("CI=true", &cmd);
    assert!(
        ci.contains("still running after") && !ci.contains("stagerun: running 1s"),
        "{ci:?}"
    );
}
