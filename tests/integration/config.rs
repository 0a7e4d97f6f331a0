//! Configuration as a user meets it: files, environment, flags, `config`.

use crate::common::*;
use predicates::prelude::*;

#[test]
fn config_shows_every_value_with_its_source_and_no_secrets() {
    let sb = Sandbox::new();
    sb.write(
        "stagerun.yaml",
        "host: file-host\nalert_command: 'curl -H \"Authorization: Bearer s3cr3t\" https://alerts'\nrepos:\n  core: { container: core-app }\n",
    );
    let out = stagerun(sb.path())
        .args(["config", "--repo", "core"])
        .env("ORCH_STAGING_RUNNER_TIMEOUT", "2m")
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
        line("host").contains("file-host")
            && line("host").contains("key `host` in stagerun.yaml line 1"),
        "{out}"
    );
    assert!(line("container").contains("repos.core.container"), "{out}");
    assert!(
        line("timeout").contains("2m")
            && line("timeout").contains("environment variable ORCH_STAGING_RUNNER_TIMEOUT"),
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
    let v = json(&out);
    assert!(
        v["values"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["key"] == "transport" && e["env"] == "ORCH_STAGING_RUNNER_TRANSPORT")
    );
    // Every default, in one commented file.
    stagerun(sb.path())
        .args(["config", "--defaults"])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("timeout: 15m")
                .and(predicate::str::contains("# Every default stagerun uses")),
        );
}

#[test]
fn relative_paths_in_a_config_file_follow_the_file() {
    let sb = Sandbox::new();
    sb.write("sub/rules.yaml", "- id: my-exit-9\n  class: permanent-env\n  on: suite\n  reason: site rule\n  fix: call ops\n  when: { exit_in: [9] }\n");
    sb.write(
        "sub/stagerun.yaml",
        "rules: rules.yaml\ntransport: local\ncheck_script: exit9.py\npush: false\n",
    );
    sb.write("sub/exit9.py", "import sys\nsys.exit(9)\n");
    let work = sb.path().join("elsewhere");
    std::fs::create_dir_all(&work).unwrap();
    let item = sb.work_item(&uid("ORCH"));
    stagerun(&work)
        .arg("run")
        .arg(&item)
        .args(["--repo", "r", "--config", "../sub/stagerun.yaml"])
        .assert()
        .code(75);
    assert_eq!(front(&item, "rule").as_deref(), Some("my-exit-9"));
    // classify uses the same configuration.
    stagerun(&work)
        .args([
            "classify",
            "--exit-code",
            "9",
            "--scope",
            "suite",
            "--config",
            "../sub/stagerun.yaml",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("rule: my-exit-9"));
    // A bad relative path names the key and the file.
    sb.write("sub/bad.yaml", "rules: missing.yaml\n");
    stagerun(&work)
        .args([
            "classify",
            "--exit-code",
            "1",
            "--config",
            "../sub/bad.yaml",
        ])
        .assert()
        .code(78)
        .stderr(predicate::str::contains("missing.yaml"));
}

#[test]
fn bad_values_exit_78_naming_key_and_source_and_usage_errors_exit_2() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    sb.run_local(&item, "pass")
        .env("ORCH_STAGING_RUNNER_TIMEOUT", "soon")
        .assert()
        .code(78)
        .stderr(
            predicate::str::contains("`timeout`")
                .and(predicate::str::contains("ORCH_STAGING_RUNNER_TIMEOUT")),
        );
    sb.run_local(&item, "pass")
        .env(
            "ORCH_STAGING_RUNNER_PUSH_REMOTE",
            "--upload-pack=touch pwned",
        )
        .assert()
        .code(78)
        .stderr(predicate::str::contains("push_remote"));
    sb.write("stagerun.yaml", "timeout: 5\nnope: 1\n");
    sb.run_local(&item, "pass")
        .assert()
        .code(78)
        .stderr(predicate::str::contains("stagerun.yaml:2:1"));
    std::fs::remove_file(sb.path().join("stagerun.yaml")).unwrap();
    // A negative or oversized number is a bad value of its key (78), like 0,
    // not a usage error.
    for (flag, value, says) in [
        ("--timeout", "-1", "`-1` is not a duration"),
        ("--timeout", "0", "must be more than zero"),
        ("--retries", "-3", "`-3` is not a whole number"),
        ("--retries", "99999999999", "is more than the maximum of 20"),
    ] {
        sb.run_local(&item, "pass")
            .args([flag, value])
            .assert()
            .code(78)
            .stderr(
                predicate::str::contains(format!("from flag {flag}"))
                    .and(predicate::str::contains(says)),
            );
    }
    stagerun(sb.path())
        .args(["run"])
        .arg(&item)
        .args(["--repo", ""])
        .assert()
        .code(2);
    stagerun(sb.path())
        .args(["run", "--bogus"])
        .assert()
        .code(2);
}

/// Every stagerun configuration and rules file shown in the README and the
/// docs is accepted as it is printed (the CI files are linted and run by
/// ci_files.rs).
#[test]
fn every_config_and_rules_example_in_the_docs_is_valid() {
    let root = repo_root();
    let mut docs = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "md") && !p.ends_with("ci.md") {
            docs.push(p);
        }
    }
    let block = regex::Regex::new(r"(?s)```yaml\n(.*?)```").unwrap();
    let sb = Sandbox::new();
    let mut checked = 0;
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        for (i, m) in block.captures_iter(&text).enumerate() {
            let yaml = &m[1];
            // CI snippets (GitHub, GitLab) are not stagerun files.
            if yaml.contains("uses:") || yaml.contains("include:") {
                continue;
            }
            let file = sb.write(&format!("example-{checked}.yaml"), yaml);
            let mut cmd = stagerun(sb.path());
            if yaml.starts_with("rules:") || yaml.contains("\ndisable:") {
                cmd.args(["classify", "--exit-code", "1", "--rules"])
                    .arg(&file);
            } else {
                cmd.args(["config", "--repo", "orch-core", "--config"])
                    .arg(&file);
            }
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "{} block {i} is not accepted:\n{yaml}\n{}",
                doc.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} examples found");
}
