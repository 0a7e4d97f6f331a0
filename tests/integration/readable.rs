//! The text a person reads: one wording per fault whatever the subcommand,
//! a dry run a person can check, `classify --explain` saying why the near
//! rules did not match and what verdict follows, man pages with one section
//! per topic.

use crate::common::*;
use std::process::Stdio;
use std::time::Duration;

/// The error line of a command (`stagerun: error: …` or `stagerun: HOLD: …`)
/// and its exit code.
fn error_line(cmd: &mut assert_cmd::Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("stagerun: error: ") || l.starts_with("stagerun: HOLD: "))
        .unwrap_or_else(|| panic!("no error line: {err}"))
        .to_string();
    (out.status.code().unwrap_or(-1), line)
}

/// `run` and `gate` on the same missing path, the same plain file, the same
/// busy work item: the same words.
#[test]
fn one_wording_per_fault_across_subcommands() {
    let sb = Sandbox::new();
    let missing = sb.path().join("nonexistent/ORCH-999");
    let file = sb.write("ORCH-998", "not a folder\n");
    for (path, words) in [
        (&missing, "no such file or folder"),
        (&file, "is not a folder"),
    ] {
        let gate = error_line(stagerun(sb.path()).arg("gate").arg(path));
        let run = error_line(sb.run_local(path, "pass").arg("--quiet"));
        let dry = error_line(sb.run_local(path, "pass").arg("--dry-run"));
        assert_eq!(gate, run, "{words}");
        assert_eq!(gate, dry, "{words}");
        assert_eq!(gate.0, 2);
        assert!(
            gate.1 == format!("stagerun: error: work item `{}`: {words}", path.display())
                || gate.1 == format!("stagerun: error: work item `{}` {words}", path.display()),
            "{}",
            gate.1
        );
    }
    // A work item another run holds: `run` and `gate` say it alike.
    let item = sb.work_item(&uid("ORCH"));
    let started = sb.path().join("started");
    let mut first = sb
        .run_local_std(&item, "script")
        .env("STAGING_CHECK_STARTED_FILE", &started)
        .env("STAGING_CHECK_STDOUT", "C1 PASS a\\n")
        .env("STAGING_CHECK_SLEEP", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&started, Duration::from_secs(20));
    let busy = format!("work item `{}` is busy: run in progress", item.display());
    let (code, gate) = error_line(stagerun(sb.path()).arg("gate").arg(&item));
    assert_eq!(code, 75);
    assert!(
        gate.starts_with(&format!("stagerun: HOLD: {busy}")),
        "{gate}"
    );
    let (code, run) = error_line(sb.run_local(&item, "pass").arg("--quiet"));
    assert_eq!(code, 75);
    assert!(run.starts_with(&format!("stagerun: HOLD: {busy}")), "{run}");
    let (code, _) = wait_exit(&mut first, Duration::from_secs(30));
    assert_eq!(code, 0);
    // A file stagerun cannot write is named, whichever it is.
    let junit = sb.path().join("nonexistent/junit.xml");
    let out = sb
        .run_local(&item, "pass")
        .arg("--quiet")
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "stagerun: warning: junit output failed (verdict unchanged): {}: cannot create a temp file: no such file or folder\n",
            junit.display()
        )),
        "{err}"
    );
    // Operating-system errors in stagerun's words, not Rust's ("(os error 20)").
    let (code, man) = error_line(
        stagerun(sb.path())
            .args(["man", "--dir"])
            .arg(file.join("man1")),
    );
    assert_eq!(code, 2);
    assert_eq!(
        man,
        format!(
            "stagerun: error: cannot create {}: a part of the path is not a folder",
            file.join("man1").display()
        )
    );
}

/// `--dry-run` says first what a person checks, each value with where it
/// came from (file, environment, flag, default), then the exact argv
/// (`--dry-run=exact` alone; the snapshots hold both for every channel and
/// engine).
#[test]
fn a_dry_run_says_what_would_run_and_where_each_value_came_from() {
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-115");
    sb.write(
        "stagerun.yaml",
        "user: deploy\nrepos:\n  core:\n    host: staging-1.internal\n    container: orch-core-app\n",
    );
    let out = stagerun(sb.path())
        .arg("run")
        .arg(&item)
        .args(["--repo", "core", "--dry-run", "--retries", "0"])
        .env("ORCH_STAGING_RUNNER_TIMEOUT", "5m")
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let row = |name: &str| -> String {
        text.lines()
            .find(|l| l.starts_with(&format!("  {name} ")))
            .unwrap_or_else(|| panic!("no {name} row: {text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        row("channel"),
        "channel ssh to deploy@staging-1.internal # channel: built-in default; \
         host from key `repos.core.host` in stagerun.yaml line 4; user from key `user` in stagerun.yaml line 1"
    );
    assert_eq!(
        row("engine"),
        "engine docker exec, container orch-core-app # engine: the channel's default; \
         container from key `repos.core.container` in stagerun.yaml line 5"
    );
    assert_eq!(
        row("suite"),
        "suite python3 staging_check.py --work-item ORCH-115 --mode stub # check_script, python, mode: built-in default"
    );
    assert_eq!(
        row("timeout"),
        "timeout 5m00s per attempt (stopped where it runs at 4m45s) # timeout from environment variable ORCH_STAGING_RUNNER_TIMEOUT"
    );
    assert_eq!(
        row("retries"),
        "retries 0: one attempt, a transient fault is HOLD at once # infra_retries from flag --retries"
    );
    assert!(
        text.starts_with("dry run: nothing is started (config file stagerun.yaml)\n"),
        "{text}"
    );
    // The exact argv last: what `--dry-run=exact` prints alone.
    let exact = stagerun(sb.path())
        .arg("run")
        .arg(&item)
        .args(["--repo", "core", "--dry-run=exact", "--retries", "0"])
        .env("ORCH_STAGING_RUNNER_TIMEOUT", "5m")
        .output()
        .unwrap();
    let exact = String::from_utf8(exact.stdout).unwrap();
    assert!(exact.starts_with("ssh -o 'BatchMode=yes'"), "{exact}");
    // Each run has its own nonce.
    let nonce = regex::Regex::new("[0-9a-f]{32}").unwrap();
    let (text, exact) = (
        nonce.replace_all(&text, "N"),
        nonce.replace_all(&exact, "N"),
    );
    assert!(text.ends_with(&*exact), "{text}");
    assert!(!item.join("15-staging-log.md").exists());
}

fn classify(sb: &Sandbox, args: &[&str]) -> String {
    let out = stagerun(sb.path())
        .arg("classify")
        .args(args)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

/// The issue's case: exit 1 with `bash: docker: command not found`. The
/// explanation names the rule a person expects (docker-cli-missing), why it
/// did not match (the exit code is 1, not 127), what it would have meant,
/// and the verdict and exit code that do follow.
#[test]
fn classify_explain_says_why_near_rules_did_not_match_and_the_verdict() {
    let sb = Sandbox::new();
    let err = sb.write("err.txt", "bash: docker: command not found\n");
    let err = err.to_str().unwrap();
    let text = classify(
        &sb,
        &["--exit-code", "1", "--stderr-file", err, "--explain"],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..2],
        ["class: transient-infra", "rule: unknown-exit"],
        "{text}"
    );
    assert!(
        lines.contains(
            &"verdict: HOLD (exit 75): after up to 2 retries (infra_retries, built-in default), unless a retry gives another answer"
        ),
        "{text}"
    );
    let near = text
        .find("\nnear rules (an output line matches them, yet they did not match):\n")
        .unwrap_or_else(|| panic!("no near rules: {text}"));
    assert!(
        text[near..].contains(
            "\n  docker-cli-missing (built-in, on channel): a stderr line matches, but the exit code is 1, not 127\n    \
             had it matched: permanent-env → HOLD (exit 75): at once, never retried (a permanent environment fault)\n"
        ),
        "{text}"
    );
    // Each rule is shown tried on the evidence of its own scope: the
    // channel's rules first (auto), each with its real reason.
    let channel = text
        .find(
            "\nchannel rules first, as if the suite never started (in order, first match wins):\n",
        )
        .unwrap_or_else(|| panic!("no channel pass: {text}"));
    let suite = text
        .find("\nsuite rules: the suite ended; its own status and output decide (in order, first match wins):\n")
        .unwrap_or_else(|| panic!("no suite pass: {text}"));
    assert!(channel < suite);
    assert!(
        text[channel..suite]
            .contains("\n  skip   docker-cli-missing (built-in): the exit code is 1, not 127\n"),
        "{text}"
    );
    assert!(
        text[channel..suite].contains(
            "\n  MATCH  unknown-exit (built-in) → transient-infra; no channel signature matched, so the suite rules judge\n"
        ),
        "{text}"
    );
    assert!(!text.contains("applies on"), "{text}");
    assert!(
        text.trim_end()
            .ends_with("MATCH  unknown-exit (built-in) → transient-infra")
    );

    // The verdict for each class, with and without --explain; --json too.
    for (args, verdict) in [
        (
            vec!["--exit-code", "127", "--stderr-file", err],
            "verdict: HOLD (exit 75): at once, never retried (a permanent environment fault)",
        ),
        (
            vec![
                "--exit-code",
                "0",
                "--scope",
                "suite",
                "--stdout-file",
                sb.write("ok.txt", "C1 PASS fine\n").to_str().unwrap(),
            ],
            "verdict: SUCCESS (exit 0): the suite ran and gave its own answer",
        ),
        (
            vec![
                "--exit-code",
                "1",
                "--scope",
                "suite",
                "--stdout-file",
                sb.write("fail.txt", "C1 PASS fine\nC2 FAIL bad\n")
                    .to_str()
                    .unwrap(),
            ],
            "verdict: FAILED (exit 1): the suite ran and gave its own answer",
        ),
    ] {
        let text = classify(&sb, &args);
        assert!(text.lines().any(|l| l == verdict), "{args:?}: {text}");
    }
    let mut args = vec![
        "--exit-code",
        "1",
        "--stderr-file",
        err,
        "--explain",
        "--json",
    ];
    let v = json(classify(&sb, &args).as_bytes());
    assert_eq!(
        (v["verdict"].as_str(), v["verdict_exit_code"].as_i64()),
        (Some("HOLD"), Some(75))
    );
    let near = &v["near"][0];
    assert_eq!(near["rule"], "docker-cli-missing", "{v}");
    assert_eq!(
        near["unmet"],
        serde_json::json!(["the exit code is 1, not 127"])
    );
    assert_eq!(near["verdict_exit_code"], 75);
    // Without retries a transient fault is HOLD at once, and says so.
    args.truncate(4);
    args[1] = "9";
    let text = stagerun(sb.path())
        .args(["classify"])
        .args(&args)
        .env("ORCH_STAGING_RUNNER_INFRA_RETRIES", "0")
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.lines().any(|l| l == "verdict: HOLD (exit 75): at once, no retries (infra_retries 0, environment variable ORCH_STAGING_RUNNER_INFRA_RETRIES)"),
        "{text}"
    );
}

/// Each page's EXIT STATUS lists the codes its own command ends with: run's
/// page the whole contract, gate's its 0/1/75 (never 3 or 78), classify's
/// 0 whatever it classifies (never 1 or 75).
#[test]
fn each_man_page_lists_its_own_commands_exit_codes() {
    let sb = Sandbox::new();
    let codes = |page: &str| -> Vec<String> {
        let out = stagerun(sb.path())
            .args(["man", page])
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone();
        let text = String::from_utf8(out).unwrap();
        let section = text
            .split(".SH \"EXIT STATUS\"\n")
            .nth(1)
            .and_then(|rest| rest.split("\n.SH ").next())
            .unwrap_or_else(|| panic!("{page}: no EXIT STATUS section"))
            .to_string();
        section
            .split(".TP\n")
            .filter_map(|entry| entry.lines().next())
            .filter(|code| !code.is_empty())
            .map(str::to_string)
            .collect()
    };
    assert_eq!(codes("run"), ["0", "1", "2", "3", "75", "78", "70"]);
    assert_eq!(codes("gate"), ["0", "1", "75", "2", "70"]);
    assert_eq!(codes("classify"), ["0", "2", "78", "70"]);
    assert_eq!(codes("preflight"), ["0", "75", "2", "3", "78", "70"]);
    assert_eq!(codes("status"), ["0", "2", "70"]);
}

/// Each man page has one section per topic (the exit codes only under EXIT
/// STATUS: no EXTRA section, no list in the description), and every page it
/// names (`stagerun-run(1)`, `stagerun(1)`) is one `man --dir` writes.
#[test]
fn man_pages_have_one_section_per_topic_and_name_only_written_pages() {
    let sb = Sandbox::new();
    let dir = sb.path().join("man1");
    stagerun(sb.path())
        .args(["man", "--dir"])
        .arg(&dir)
        .assert()
        .code(0);
    let written: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(written.len() > 5, "{written:?}");
    assert!(!written.contains(&"stagerun-help.1".to_string()));
    let reference = regex::Regex::new(r"(stagerun(?:\\-[a-z]+)?)(?:\\fR)?\((1)\)").unwrap();
    // A section that lists the exit codes names both HOLD codes; an option
    // saying what it exits with (`--wait`: 75 at once) is not such a list.
    let lists_codes = |body: &str| {
        regex::Regex::new(r"\b75\b").unwrap().is_match(body)
            && regex::Regex::new(r"\b78\b").unwrap().is_match(body)
    };
    for page in &written {
        let text = std::fs::read_to_string(dir.join(page)).unwrap();
        let mut sections: Vec<(&str, String)> = Vec::new();
        for line in text.lines() {
            if let Some(name) = line.strip_prefix(".SH ") {
                sections.push((name, String::new()));
            } else if let Some((_, body)) = sections.last_mut() {
                body.push_str(line);
                body.push('\n');
            }
        }
        let names: Vec<&str> = sections.iter().map(|(n, _)| *n).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            names.len(),
            "{page}: a section twice: {names:?}"
        );
        assert!(!names.contains(&"EXTRA"), "{page}: {names:?}");
        for (name, body) in &sections {
            if *name != "\"EXIT STATUS\"" {
                assert!(
                    !lists_codes(body),
                    "{page}: section {name} also covers the exit codes:\n{body}"
                );
            }
        }
        for m in reference.captures_iter(&text) {
            let file = format!("{}.{}", m[1].replace("\\-", "-"), &m[2]);
            assert!(
                written.contains(&file),
                "{page} names {} but man --dir does not write {file}",
                &m[0]
            );
        }
    }
    let top = std::fs::read_to_string(dir.join("stagerun.1")).unwrap();
    assert!(top.contains("\nstagerun\\-run(1)\n"), "{top}");
    let run = std::fs::read_to_string(dir.join("stagerun-run.1")).unwrap();
    assert!(run.contains(".SH SYNOPSIS\n\\fBstagerun run\\fR "), "{run}");
    assert!(
        run.ends_with(".SH \"SEE ALSO\"\n\\fBstagerun\\fR(1)\n"),
        "{run}"
    );
}

/// `make test` prints cargo's output and summary, then counts the skipped
/// tests and names the tool each one missed, and exits with cargo's code
/// (a stand-in cargo here: the Makefile's recipe is what is tested).
#[test]
fn make_test_counts_the_skips_names_the_missing_tools_and_keeps_cargos_code() {
    if !require("make", have_make()) {
        return;
    }
    let sb = Sandbox::new();
    let cargo = sb.write(
        "cargo",
        "#!/bin/sh\n\
         echo \"test result: ok. 2 passed; 0 failed\"\n\
         echo 'SKIPPED: sshd unavailable (e2e_ssh::a): no /usr/sbin/sshd' >> \"$STAGERUN_SKIP_LOG\"\n\
         echo 'SKIPPED: podman unavailable (e2e_podman::b): `podman` is not installed' >> \"$STAGERUN_SKIP_LOG\"\n\
         echo 'SKIPPED: sshd unavailable (e2e_ssh::c): no /usr/sbin/sshd' >> \"$STAGERUN_SKIP_LOG\"\n\
         exit \"${FAKE_CODE:-0}\"\n",
    );
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let skips = sb.path().join("skips.txt");
    let make = |code: &str| {
        std::process::Command::new("make")
            .args(["-s", "-C"])
            .arg(repo_root())
            .arg("test")
            .arg(format!("CARGO={}", cargo.display()))
            .arg(format!("SKIP_LOG={}", skips.display()))
            .env("FAKE_CODE", code)
            .env_remove("MAKEFLAGS")
            .output()
            .unwrap()
    };
    let out = make("0");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "test result: ok. 2 passed; 0 failed",
            "make test: 3 tests skipped, each for a missing tool (sshd: 2, podman: 1); STAGERUN_REQUIRE_E2E=1 fails them instead:",
            "  SKIPPED: podman unavailable (e2e_podman::b): `podman` is not installed",
            "  SKIPPED: sshd unavailable (e2e_ssh::a): no /usr/sbin/sshd",
            "  SKIPPED: sshd unavailable (e2e_ssh::c): no /usr/sbin/sshd",
        ],
        "{text}"
    );
    // A failing cargo fails make test, summary and all; each run starts afresh.
    let out = make("101");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("make test: 3 tests skipped"), "{text}");
}

fn have_make() -> Result<(), String> {
    std::process::Command::new("make")
        .arg("--version")
        .output()
        .map(drop)
        .map_err(|e| format!("cannot run make: {e}"))
}

/// `make demo` (scripts/demo.sh, run here as the Makefile runs it) ends
/// with the verdict, the gate's answer, where the log is, and the next two
/// things to try, which are the recipes of docs/getting-started.md and do
/// what they say (FAILED, exit 1; HOLD, exit 75).
#[test]
fn the_demo_ends_with_the_verdict_the_gate_the_log_and_what_to_try_next() {
    let sb = Sandbox::new();
    let demo = sb.path().join("demo");
    let run = |script: &str, args: &[&str]| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{script} 2>&1"))
            .arg("sh")
            .args(args)
            .current_dir(repo_root())
            .env_remove("STAGING_CHECK_SCENARIO")
            .env_remove("STAGERUN_CONFIG")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let bin = bin().display().to_string();
    let (code, text) = run(
        "sh scripts/demo.sh \"$1\" \"$2\"",
        &[&bin, demo.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{text}");
    let shown = text
        .replace(&bin, "./target/release/stagerun")
        .replace(&demo.display().to_string(), "target/demo");
    let last = &shown[shown
        .rfind("== stagerun gate ")
        .unwrap_or_else(|| panic!("no gate: {shown}"))..];
    insta::assert_snapshot!("demo_last_lines", last);
    // The two recipes it prints are the guide's, and they do what they say.
    let guide = std::fs::read_to_string(repo_root().join("docs/getting-started.md")).unwrap();
    let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let recipes: Vec<&str> = last
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("STAGING_CHECK_SCENARIO="))
        .collect();
    assert_eq!(recipes.len(), 2, "{last}");
    for (recipe, expected) in recipes.iter().zip([1, 75]) {
        assert!(
            squeeze(&guide).contains(&format!("{} # {expected}", squeeze(recipe))),
            "not in docs/getting-started.md: {recipe}"
        );
        let as_run = recipe
            .replace("./target/release/stagerun", &bin)
            .replace("target/demo", demo.to_str().unwrap());
        let (_, out) = run(&as_run, &[]);
        assert_eq!(
            out.trim_end().lines().last(),
            Some(expected.to_string().as_str()),
            "{recipe}: {out}"
        );
    }
}
