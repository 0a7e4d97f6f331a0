//! The CI files we ship (action.yml, the GitLab component, examples/, the
//! embedded copies in docs/ci.md) are run or linted for real: the action's
//! and the component's shell steps run against the built binary with temp
//! GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / dotenv files, the shell example
//! gates on every exit code, the YAML passes the CI systems' schemas.
//! No GitHub, GitLab, Jenkins, Argo or Kubernetes here: what those systems
//! do with the files (retries, allow_failure, podFailurePolicy) is not run.

use crate::common::*;
use std::path::Path;
use std::process::Command;

fn have(tool: &str) -> Result<(), String> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        Ok(())
    } else {
        Err(format!("`{tool}` is not installed"))
    }
}

fn pyyaml() -> Result<(), String> {
    crate::outputs::pytools_with(&[("PyYAML", "yaml")]).map(drop)
}

fn schema_tools() -> Result<(), String> {
    crate::outputs::pytools_with(&[("check-jsonschema", "check_jsonschema"), ("PyYAML", "yaml")])
        .map(drop)
}

/// A script from tests/ci with the tools on PYTHONPATH and nothing from
/// the developer's or the CI job's environment that stagerun would read.
pub(crate) fn script(path: &str) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(repo_root().join(path));
    for (k, _) in std::env::vars() {
        if k.starts_with("ORCH_STAGING_RUNNER_")
            || k.starts_with("STAGING_CHECK_")
            || k.starts_with("GITHUB_")
            || k.starts_with("GITLAB_")
            || k.starts_with("CI_")
            || k == "CI"
            || k == "STAGERUN_CONFIG"
        {
            cmd.env_remove(k);
        }
    }
    if let Ok(dir) = crate::outputs::pytools_with(&[])
        && dir.is_dir()
    {
        cmd.env("PYTHONPATH", &dir).env("PYTOOLS", &dir);
    }
    cmd.env("STAGERUN", bin()).env("PROJECT", repo_root());
    cmd
}

fn assert_script_passes(mut cmd: Command, what: &str) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

#[test]
fn the_github_action_steps_run_for_real() {
    if !require("PyYAML for the action harness", pyyaml()) || !require("jq", have("jq")) {
        return;
    }
    let text = assert_script_passes(script("tests/ci/action-steps.sh"), "action.yml's steps");
    assert!(text.contains(" 0 failed"), "{text}");
}

#[test]
fn the_gitlab_component_script_runs_under_bash_and_dash() {
    if !require("PyYAML for the component harness", pyyaml())
        || !require("jq", have("jq"))
        || !require("dash", have("dash"))
    {
        return;
    }
    let text = assert_script_passes(
        script("tests/ci/component-script.sh"),
        "templates/stagerun.yml's script",
    );
    assert!(text.contains(" 0 failed"), "{text}");
}

#[test]
fn ci_files_pass_their_schemas_and_lints() {
    if !require("check-jsonschema and PyYAML", schema_tools()) {
        return;
    }
    let mut cmd = script("tests/ci/lint.sh");
    if std::env::var("STAGERUN_REQUIRE_E2E").as_deref() == Ok("1") {
        cmd.env("LINT_REQUIRE_ALL", "1");
    }
    assert_script_passes(cmd, "tests/ci/lint.sh");
}

#[test]
fn docs_ci_shows_the_example_files_unchanged() {
    let out = Command::new("python3")
        .arg(repo_root().join("tests/ci/docs-includes.py"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// examples/shell/deploy-staging.sh, run as a user would, for each verdict.
#[test]
fn the_shell_example_gates_on_every_exit_code() {
    if !require("jq", have("jq")) {
        return;
    }
    let example = repo_root().join("examples/shell/deploy-staging.sh");
    let run = |id: &str, env: &[(&str, &str)]| -> (i32, String) {
        let sb = Sandbox::new();
        std::fs::create_dir_all(sb.path().join("docs/work-items").join(id)).unwrap();
        let mut cmd = script(example.to_str().unwrap());
        cmd.arg(id)
            .current_dir(sb.path())
            .env("PATH", path_with_stagerun())
            .env("ORCH_STAGING_RUNNER_TRANSPORT", "local")
            .env("ORCH_STAGING_RUNNER_CHECK_SCRIPT", check_script())
            .env("ORCH_STAGING_RUNNER_PUSH", "false")
            .env("ORCH_STAGING_RUNNER_INFRA_RETRIES", "0")
            .env("HOLD_WAIT", "0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let result =
            std::fs::read_to_string(sb.path().join("stagerun-result.json")).unwrap_or_default();
        if !result.is_empty() {
            assert_schema_valid(&json(result.as_bytes()));
        }
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    };
    let id = uid("ORCH");
    let (code, text) = run(&id, &[("STAGING_CHECK_SCENARIO", "pass")]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("SUCCESS: start the next stage"), "{text}");
    let (code, text) = run(&id, &[("STAGING_CHECK_SCENARIO", "fail")]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("FAILED: roll"), "{text}");
    let (code, text) = run(
        &id,
        &[("STAGING_CHECK_SCENARIO", "silent"), ("HOLD_RETRIES", "1")],
    );
    assert_eq!(code, 75, "{text}");
    assert!(
        text.contains("running again in 0s (1 of 1)") && text.contains("HOLD: "),
        "{text}"
    );
    let (code, text) = run(
        &id,
        &[
            ("STAGING_CHECK_SCENARIO", "pass"),
            ("ORCH_STAGING_RUNNER_ENABLED", "false"),
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("SKIPPED: run the legacy staging path"),
        "{text}"
    );
    let (code, text) = run(
        &id,
        &[
            ("STAGING_CHECK_SCENARIO", "pass"),
            ("ORCH_STAGING_RUNNER_TIMEOUT", "soon"),
        ],
    );
    assert_eq!(code, 78, "a configuration error is not FAILED: {text}");
    assert!(!text.contains("roll"), "{text}");
}

fn path_with_stagerun() -> String {
    let dir = Path::new(bin()).parent().unwrap().to_path_buf();
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}
