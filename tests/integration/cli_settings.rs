//! The command line and settings as a newcomer meets them (issue 24, items
//! 1-4): help that says each default's behaviour, each subcommand with only
//! the options and values it uses, every bad or missing value at once, the
//! value in effect, and the nearest name for a misspelt one.

use crate::common::*;
use predicates::prelude::*;

fn stdout_of(sb: &Sandbox, args: &[&str]) -> String {
    let out = stagerun(sb.path())
        .args(args)
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// The help of one option: its line and the lines that continue it.
fn option_help(help: &str, flag: &str) -> String {
    let at = help
        .find(&format!("      {flag} "))
        .or_else(|| help.find(&format!("      {flag}\n")))
        .unwrap_or_else(|| panic!("{flag} missing:\n{help}"));
    let mut lines = help[at..].lines();
    let mut block = lines.next().unwrap_or_default().to_string();
    for l in lines.take_while(|l| !l.trim_start().starts_with('-') && !l.trim().is_empty()) {
        block.push(' ');
        block.push_str(l.trim());
    }
    block
}

#[test]
fn no_push_says_pushing_is_the_default_and_every_setting_says_its_default() {
    let sb = Sandbox::new();
    let run = stdout_of(&sb, &["run", "--help"]);
    let no_push = option_help(&run, "--no-push");
    assert!(
        no_push.contains("Do not commit and push the log")
            && no_push.contains("[default: commit and push the log to the work item's branch")
            && no_push.contains("[env: ORCH_STAGING_RUNNER_PUSH=false]")
            && !no_push.contains("[default: true]"),
        "{no_push}"
    );
    // Every setting a subcommand takes says its default, in words where
    // there is no value: transport and engine name the ones in effect.
    for sub in ["run", "preflight", "disconnect", "classify"] {
        let help = stdout_of(&sb, &[sub, "--help"]);
        let settings = help
            .split_once("\nSettings:\n")
            .unwrap_or_else(|| panic!("{sub}: no Settings section:\n{help}"))
            .1;
        for line in settings
            .lines()
            .filter(|l| l.trim_start().starts_with("--"))
        {
            let flag = line.split_whitespace().next().unwrap();
            let block = option_help(&help, flag);
            assert!(
                block.contains("[default: ") && block.contains("[env: ORCH_STAGING_RUNNER_"),
                "{sub} {flag}: {block}"
            );
            assert!(!block.contains("[default: true]"), "{sub} {flag}: {block}");
        }
    }
    for (flag, default) in [
        ("--transport", "[default: ssh"),
        (
            "--engine",
            "[default: docker (none with --transport local)]",
        ),
        ("--host", "[default: none; the ssh transport needs one]"),
        ("--deadline", "[default: none: the attempts' timeouts"),
        ("--timeout", "[default: 15m]"),
        (
            "--config",
            "[default: $STAGERUN_CONFIG if set, else ./stagerun.yaml if present",
        ),
        ("--quiet", "[default: streamed live]"),
    ] {
        let block = option_help(&run, flag);
        assert!(block.contains(default), "{flag}: {block}");
    }
}

#[test]
fn each_subcommand_takes_and_shows_only_the_options_it_uses() {
    let sb = Sandbox::new();
    let shows = |sub: &str| {
        let help = stdout_of(&sb, &[sub, "--help"]);
        move |flag: &str| {
            help.contains(&format!("      {flag} ")) || help.contains(&format!("      {flag}\n"))
        }
    };
    let run = shows("run");
    for flag in [
        "--container",
        "--check-script",
        "--python",
        "--timeout",
        "--no-push",
        "--suite-report",
    ] {
        assert!(run(flag), "run lacks {flag}");
    }
    let preflight = shows("preflight");
    for flag in [
        "--container",
        "--check-script",
        "--python",
        "--persist",
        "--rules",
    ] {
        assert!(preflight(flag), "preflight lacks {flag}");
    }
    for flag in [
        "--timeout",
        "--no-push",
        "--mode",
        "--retries",
        "--suite-report",
        "--deadline",
    ] {
        assert!(
            !preflight(flag),
            "preflight shows {flag}, which it does not use"
        );
    }
    let disconnect = shows("disconnect");
    for flag in [
        "--host",
        "--user",
        "--port",
        "--identity-file",
        "--known-hosts",
        "--transport",
    ] {
        assert!(disconnect(flag), "disconnect lacks {flag}");
    }
    for flag in [
        "--container",
        "--check-script",
        "--python",
        "--engine",
        "--timeout",
        "--persist",
    ] {
        assert!(
            !disconnect(flag),
            "disconnect shows {flag}, which it does not use"
        );
    }
    // ... and refuses them as clap refuses any unknown flag.
    stagerun(sb.path())
        .args([
            "disconnect",
            "--repo",
            "x",
            "--host",
            "h",
            "--check-script",
            "s.py",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unexpected argument '--check-script'",
        ));
    // disconnect asks for no container: with a host it closes (no master here).
    let runtime = tempfile::tempdir().unwrap();
    let out = stagerun(sb.path())
        .args(["disconnect", "--repo", "x", "--host", "h", "--json"])
        .env("XDG_RUNTIME_DIR", runtime.path())
        .assert()
        .code(0)
        .get_output()
        .clone();
    let v = json(&out.stdout);
    assert_eq!(v["closed"], false, "{v}");
    assert_eq!(v["target"], "h", "{v}");
    // Without a host it asks for that one value only.
    let err = stagerun(sb.path())
        .args(["disconnect", "--repo", "x"])
        .env("XDG_RUNTIME_DIR", runtime.path())
        .assert()
        .code(78)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(err).unwrap();
    assert!(
        err.contains("`host` is not set") && !err.contains("container"),
        "{err}"
    );
}

#[test]
fn every_missing_and_invalid_value_is_reported_at_once() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let out = stagerun(sb.path())
        .arg("run")
        .arg(&item)
        .args(["--repo", "core", "--dry-run", "--port", "0"])
        .env("ORCH_STAGING_RUNNER_TIMEOUT", "soon")
        .assert()
        .code(78)
        .get_output()
        .stderr
        .clone();
    insta::assert_snapshot!(
        "missing_and_invalid_at_once",
        String::from_utf8(out).unwrap()
    );
    // The same list under --json, in the one object.
    let out = stagerun(sb.path())
        .arg("run")
        .arg(&item)
        .args(["--repo", "core", "--json", "--suite-format", "junit"])
        .assert()
        .code(78)
        .get_output()
        .clone();
    let v = json(&out.stdout);
    assert_schema_valid(&v);
    let reason = v["reason"].as_str().unwrap();
    for key in ["`host`", "`container`", "`suite_report`"] {
        assert!(reason.contains(key), "{reason}");
    }
    assert!(reason.starts_with("3 configuration problems"), "{reason}");
    // preflight: the channel and the engine, not the suite's report.
    let err = stagerun(sb.path())
        .args(["preflight", "--repo", "core", "--engine", "kubectl"])
        .env("ORCH_STAGING_RUNNER_SUITE_FORMAT", "junit")
        .assert()
        .code(78)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(err).unwrap();
    for says in [
        "`host` is not set: the ssh transport needs it (flag --host, environment ORCH_STAGING_RUNNER_HOST, or config key `host`)",
        "`pod` is not set: the kubectl engine needs it (flag --pod,",
        "`container` is not set: the kubectl engine needs it (flag --container,",
    ] {
        assert!(err.contains(says), "{says}\n{err}");
    }
    assert!(!err.contains("suite_report"), "{err}");
    // One value missing: the one line it always was.
    let err = stagerun(sb.path())
        .arg("run")
        .arg(&item)
        .args(["--repo", "core", "--dry-run", "--host", "h"])
        .assert()
        .code(78)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(err).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("`container` is not set: the docker engine needs it"),
        "{err}"
    );
    // And the kill-switch still decides first.
    stagerun(sb.path())
        .arg("run")
        .arg(&item)
        .args(["--repo", "core", "--port", "0"])
        .env("ORCH_STAGING_RUNNER_ENABLED", "false")
        .assert()
        .code(3);
}

#[test]
fn config_shows_the_transport_and_engine_in_effect_and_that_they_are_defaults() {
    let sb = Sandbox::new();
    let line = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let text = stdout_of(&sb, &["config", "--repo", "x"]);
    assert_eq!(
        line(&text, "transport"),
        "transport ssh # built-in default",
        "{text}"
    );
    assert_eq!(
        line(&text, "engine"),
        "engine docker # built-in default",
        "{text}"
    );
    assert!(!line(&text, "transport").contains("(unset)"), "{text}");
    assert!(
        line(&text, "deadline").contains("(unset) # built-in default: none"),
        "{text}"
    );
    let out = stagerun(sb.path())
        .args(["config", "--repo", "x"])
        .env("ORCH_STAGING_RUNNER_TRANSPORT", "local")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        line(&text, "transport")
            .starts_with("transport local # environment variable ORCH_STAGING_RUNNER_TRANSPORT"),
        "{text}"
    );
    assert!(
        line(&text, "engine")
            == "engine none # built-in default with the local channel (from `transport`)",
        "{text}"
    );
    let out = stagerun(sb.path())
        .args(["config", "--repo", "x", "--json"])
        .env("ORCH_STAGING_RUNNER_EXEC_HOST_SIDE", "false")
        .output()
        .unwrap();
    let v = json(&out.stdout);
    let entry = |key: &str| {
        v["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == key)
            .cloned()
            .unwrap()
    };
    assert_eq!(entry("transport")["value"], "local", "{v}");
    assert!(
        entry("transport")["source"]
            .as_str()
            .unwrap()
            .contains("implied by `exec_host_side`"),
        "{v}"
    );
    assert_eq!(entry("engine")["value"], "docker", "{v}");
}

#[test]
fn misspelt_keys_pages_subcommands_and_values_get_the_nearest_name() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    sb.write("stagerun.yaml", "host: h\ncontainr: app\n");
    for args in [
        vec!["config"],
        vec!["run", item.to_str().unwrap(), "--repo", "r"],
    ] {
        stagerun(sb.path()).args(&args).assert().code(78).stderr(
            predicate::str::contains("stagerun.yaml:2:1: unknown field `containr`: not a configuration key (did you mean `container`?)")
                .and(predicate::str::contains("expected one of").not()),
        );
    }
    sb.write("stagerun.yaml", "repos:\n  r:\n    hots: h\n");
    stagerun(sb.path())
        .arg("config")
        .assert()
        .code(78)
        .stderr(predicate::str::contains("(did you mean `host`?)"));
    std::fs::remove_file(sb.path().join("stagerun.yaml")).unwrap();
    stagerun(sb.path())
        .args(["man", "bogus"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no man page `bogus`; the pages are stagerun(1) and one per subcommand: run, gate, classify, preflight, config, history, status, disconnect, completions, man",
        ));
    stagerun(sb.path())
        .args(["man", "preflite"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("(did you mean `preflight`?)"));
    stagerun(sb.path())
        .args(["man", "stagerun-gate"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(".TH stagerun-gate"));
    stagerun(sb.path())
        .args(["prefligth", "--repo", "r"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "a similar subcommand exists: 'preflight'",
        ));
    // A closed set: the nearest value, from a flag (clap) and from the environment (ours).
    stagerun(sb.path())
        .arg("run")
        .arg(&item)
        .args(["--repo", "r", "--engine", "podmn"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("a similar value exists: 'podman'"));
    stagerun(sb.path())
        .arg("run")
        .arg(&item)
        .args(["--repo", "r", "--dry-run"])
        .env("ORCH_STAGING_RUNNER_TRANSPORT", "shh")
        .assert()
        .code(78)
        .stderr(predicate::str::contains(
            "invalid value for `transport` from environment variable ORCH_STAGING_RUNNER_TRANSPORT: `shh` is not one of ssh, local, docker (did you mean `ssh`?)",
        ));
    stagerun(sb.path())
        .arg("run")
        .arg(&item)
        .args(["--repo", "r", "--contaner", "app"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "a similar argument exists: '--container'",
        ));
}

/// A `--repo` the file has no section for reads as values not set; the
/// list of problems says which sections there are and the nearest one.
#[test]
fn a_repo_without_its_section_is_named_with_the_nearest_section() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-115");
    sb.write(
        "r.yaml",
        "repos:\n  orch-core:\n    host: h\n    container: c\n  billing:\n    host: b\n    container: d\n",
    );
    let out = stagerun(sb.path())
        .arg("run")
        .arg(&item)
        .args(["--repo", "orch-cor", "--config", "r.yaml", "--dry-run"])
        .assert()
        .code(78)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("3 configuration problems"), "{err}");
    assert!(
        err.contains(
            "r.yaml has no section `orch-cor` under `repos:` (it has `billing`, `orch-core`) (did you mean `orch-core`?)"
        ),
        "{err}"
    );
    // The right name runs; a repository with no section and nothing missing
    // is not told about sections it does not need.
    stagerun(sb.path())
        .arg("run")
        .arg(&item)
        .args([
            "--repo",
            "orch-core",
            "--config",
            "r.yaml",
            "--dry-run=exact",
        ])
        .assert()
        .code(0);
    stagerun(sb.path())
        .arg("run")
        .arg(&item)
        .args(["--repo", "other", "--config", "r.yaml", "--dry-run=exact"])
        .args(["--host", "x", "--container", "y"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("no section").not());
}
