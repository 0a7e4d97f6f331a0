//! Snapshots of rendered outputs (insta): the staging log, JUnit, the
//! GitHub summary, `--dry-run` for each channel and engine, `config`, and
//! `--help`. Times, durations, sandbox paths and nonces are redacted.
//! Review changes with `cargo insta review` (or INSTA_UPDATE=always).

use crate::common::*;

fn redact(sb: &Sandbox, text: &str) -> String {
    let mut t = text.replace(&sb.path().display().to_string(), "[SANDBOX]");
    t = t.replace(&repo_root().display().to_string(), "[REPO]");
    for (re, with) in [
        (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[TIME]"),
        (r"(duration_s|time)(: |=\x22)\d+(\.\d+)?", "$1$2[DURATION]"),
        (r"\b\d+\.\ds\b", "[N.Ns]"),
        (r"[0-9a-f]{32}", "[NONCE]"),
        (r"(section_(start|end)):\d+", "$1:[TS]"),
        (r"stagerun-e2e-[a-z0-9-]+", "[CONTAINER]"),
    ] {
        t = regex::Regex::new(re)
            .unwrap()
            .replace_all(&t, with)
            .into_owned();
    }
    t
}

#[test]
fn the_staging_log_junit_and_github_summary() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-115");
    let junit = sb.path().join("junit.xml");
    let summary = sb.path().join("summary.md");
    sb.run_local(&item, "fail")
        .arg("--junit")
        .arg(&junit)
        .arg("--quiet")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .assert()
        .code(1);
    insta::assert_snapshot!("staging_log_failed", redact(&sb, &log_text(&item)));
    insta::assert_snapshot!(
        "junit_failed",
        redact(&sb, &std::fs::read_to_string(&junit).unwrap())
    );
    insta::assert_snapshot!(
        "github_summary_failed",
        redact(&sb, &std::fs::read_to_string(&summary).unwrap())
    );
    sb.run_local(&item, "silent").assert().code(75);
    insta::assert_snapshot!("staging_log_hold", redact(&sb, &log_text(&item)));
}

#[test]
fn dry_run_for_each_channel_and_engine() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-115");
    for (name, args) in [
        ("local_none", vec!["--transport", "local"]),
        (
            "local_docker",
            vec!["--transport", "docker", "--container", "app"],
        ),
        (
            "ssh_docker",
            vec![
                "--host",
                "staging-1",
                "--user",
                "deploy",
                "--port",
                "2222",
                "--container",
                "app",
            ],
        ),
        (
            "ssh_podman",
            vec![
                "--host",
                "staging-1",
                "--engine",
                "podman",
                "--container",
                "app",
            ],
        ),
        (
            "local_kubectl",
            vec![
                "--transport",
                "local",
                "--engine",
                "kubectl",
                "--pod",
                "orch-0",
                "--container",
                "app",
                "--namespace",
                "orch",
            ],
        ),
        (
            "ssh_none",
            vec![
                "--host",
                "staging-1",
                "--engine",
                "none",
                "--check-script",
                "/srv/staging_check.py",
            ],
        ),
    ] {
        let dry_run = |form: &str| {
            let out = stagerun(sb.path())
                .arg("run")
                .arg(&item)
                .args(["--repo", "r", form])
                .args(&args)
                .assert()
                .code(0)
                .get_output()
                .stdout
                .clone();
            redact(&sb, &String::from_utf8(out).unwrap())
        };
        // The exact argv is the contract: `--dry-run=exact` prints it alone.
        let exact = dry_run("--dry-run=exact");
        insta::assert_snapshot!(format!("dry_run_{name}"), exact);
        // Plain --dry-run: what a person checks first, then that same argv.
        let full = dry_run("--dry-run");
        let readable = full
            .strip_suffix(&exact)
            .unwrap_or_else(|| panic!("{name}: --dry-run does not end with the exact argv"));
        insta::assert_snapshot!(format!("dry_run_readable_{name}"), readable);
    }
}

#[test]
fn config_and_help() {
    let sb = Sandbox::new();
    sb.write(
        "stagerun.yaml",
        "host: staging-1\ncontainer: app\nrepos:\n  core:\n    timeout: 20m\n",
    );
    let out = stagerun(sb.path())
        .args(["config", "--repo", "core"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    insta::assert_snapshot!("config_core", redact(&sb, &String::from_utf8(out).unwrap()));
    for (name, args) in [
        ("help", vec!["--help"]),
        ("help_run", vec!["run", "--help"]),
        ("help_gate", vec!["gate", "--help"]),
        ("help_preflight", vec!["preflight", "--help"]),
        ("help_disconnect", vec!["disconnect", "--help"]),
    ] {
        let out = stagerun(sb.path())
            .args(&args)
            .env("COLUMNS", "100")
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone();
        insta::assert_snapshot!(name, String::from_utf8(out).unwrap());
    }
}
