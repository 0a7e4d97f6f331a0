//! What a person reads: help with every option's environment variable and
//! default, man pages per subcommand, completions, colour rules.

use crate::common::*;
use predicates::prelude::*;

#[test]
fn every_option_has_help_and_every_key_option_its_env_and_default() {
    let sb = Sandbox::new();
    for sub in [
        "run",
        "gate",
        "classify",
        "preflight",
        "config",
        "history",
        "status",
        "disconnect",
        "completions",
        "man",
    ] {
        let out = stagerun(sb.path())
            .args([sub, "--help"])
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone();
        let text = String::from_utf8(out).unwrap();
        // Every option line is followed by a description (clap puts it on the
        // same line or the next, indented).
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            if t.starts_with("--")
                || (t.starts_with('-') && t.chars().nth(1).is_some_and(|c| c.is_ascii_alphabetic()))
            {
                // Flags and help are two spaces apart, or the help follows on the next line.
                let same_line = t
                    .split_once("  ")
                    .is_some_and(|(_, help)| !help.trim().is_empty());
                let next = lines.get(i + 1).map(|n| n.trim()).unwrap_or("");
                let next_line = !next.is_empty() && !next.starts_with('-');
                assert!(
                    same_line || next_line,
                    "{sub}: option without help: {l}\n{text}"
                );
            }
        }
    }
    let run = String::from_utf8(
        stagerun(sb.path())
            .args(["run", "--help"])
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    for (flag, env, default) in [
        ("--timeout", "ORCH_STAGING_RUNNER_TIMEOUT", Some("15m")),
        ("--transport", "ORCH_STAGING_RUNNER_TRANSPORT", None),
        ("--user", "ORCH_STAGING_RUNNER_USER", None),
        ("--port", "ORCH_STAGING_RUNNER_PORT", None),
        ("--retries", "ORCH_STAGING_RUNNER_INFRA_RETRIES", Some("2")),
        ("--mode", "ORCH_STAGING_RUNNER_MODE", Some("stub")),
        ("--engine", "ORCH_STAGING_RUNNER_ENGINE", None),
    ] {
        let at = run
            .find(&format!("      {flag}"))
            .unwrap_or_else(|| panic!("{flag} missing:\n{run}"));
        let block: String = run[at..].lines().take(4).collect::<Vec<_>>().join(" ");
        assert!(block.contains(&format!("[env: {env}]")), "{flag}: {block}");
        if let Some(d) = default {
            assert!(
                block.contains(&format!("[default: {d}]")),
                "{flag}: {block}"
            );
        }
    }
    let top = String::from_utf8(
        stagerun(sb.path())
            .arg("--help")
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    assert!(top.contains("Exit status: 0 SUCCESS, 1 FAILED"), "{top}");
}

#[test]
fn man_pages_per_subcommand_with_exit_status_environment_and_files() {
    let sb = Sandbox::new();
    let dir = sb.path().join("man1");
    stagerun(sb.path())
        .args(["man", "--dir"])
        .arg(&dir)
        .assert()
        .code(0);
    for page in [
        "stagerun.1",
        "stagerun-run.1",
        "stagerun-gate.1",
        "stagerun-classify.1",
        "stagerun-preflight.1",
        "stagerun-config.1",
    ] {
        let text =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|_| panic!("{page} missing"));
        for section in [
            ".SH \"EXIT STATUS\"",
            ".SH ENVIRONMENT",
            ".SH FILES",
            "ORCH_STAGING_RUNNER_TIMEOUT",
        ] {
            assert!(text.contains(section), "{page} lacks {section}");
        }
    }
    // The pages man(1) can render.
    if std::path::Path::new("/usr/bin/man").exists() {
        let out = std::process::Command::new("man")
            .arg("-l")
            .arg(dir.join("stagerun-run.1"))
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("EXIT STATUS"));
    }
    stagerun(sb.path())
        .args(["man", "run"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(".TH stagerun-run"));
    stagerun(sb.path()).args(["man", "nope"]).assert().code(2);
}

#[test]
fn completions_for_the_shells_the_help_names() {
    let sb = Sandbox::new();
    let help = String::from_utf8(
        stagerun(sb.path())
            .args(["completions", "--help"])
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        assert!(help.contains(shell), "{help}");
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
    // bash loads the script and completes subcommands.
    let script = stagerun(sb.path())
        .args(["completions", "bash"])
        .assert()
        .get_output()
        .stdout
        .clone();
    let f = sb.write("c.bash", &String::from_utf8(script).unwrap());
    let out = std::process::Command::new("bash")
        .args(["-c", "source \"$1\"; COMP_WORDS=(stagerun pre); COMP_CWORD=1; _stagerun stagerun pre stagerun; echo \"${COMPREPLY[@]}\"", "x"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("preflight"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pty(env: &str, cmd: &str) -> Option<String> {
    if !std::path::Path::new("/usr/bin/script").exists() {
        require("util-linux `script` (a pty)", Err("not installed".into()));
        return None;
    }
    let out = std::process::Command::new("script")
        .args(["-qec", &format!("env -u CI -u GITHUB_ACTIONS -u GITLAB_CI -u NO_COLOR -u CLICOLOR -u CLICOLOR_FORCE {env} {cmd}"), "/dev/null"])
        .output()
        .unwrap();
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn colour_follows_the_terminal_no_color_clicolor_and_the_flag() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let out = sb
        .run_local(&item, "pass")
        .assert()
        .code(0)
        .get_output()
        .stderr
        .clone();
    assert!(!out.contains(&0x1b), "escape codes on a pipe");
    let out = sb
        .run_local(&item, "pass")
        .arg("--color=always")
        .assert()
        .code(0)
        .get_output()
        .stderr
        .clone();
    assert!(
        String::from_utf8_lossy(&out).contains("\x1b[1m\x1b[32mSUCCESS")
            || String::from_utf8_lossy(&out).contains("\x1b[1;32mSUCCESS"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let out = sb
        .run_local(&item, "pass")
        .env("CLICOLOR_FORCE", "1")
        .assert()
        .code(0)
        .get_output()
        .stderr
        .clone();
    assert!(out.contains(&0x1b), "CLICOLOR_FORCE");
    let cmd = format!(
        "ORCH_STAGING_RUNNER_CHECK_SCRIPT={} STAGING_CHECK_SCENARIO=pass {} run {} --repo r --transport local --no-push --quiet",
        check_script().display(),
        bin().display(),
        item.display()
    );
    let Some(tty) = pty("", &cmd) else { return };
    assert!(tty.contains("SUCCESS\x1b["), "{tty:?}");
    for env in ["NO_COLOR=1", "CLICOLOR=0"] {
        let t = pty(env, &cmd).unwrap();
        assert!(
            t.contains("SUCCESS") && !t.contains("SUCCESS\x1b["),
            "{env}: {t:?}"
        );
    }
    let t = pty("", &format!("{cmd} --color never")).unwrap();
    assert!(!t.contains("SUCCESS\x1b["), "{t:?}");
}

#[test]
fn live_status_on_a_terminal_and_heartbeat_lines_in_ci() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let cmd = format!(
        "ORCH_STAGING_RUNNER_CHECK_SCRIPT={} STAGING_CHECK_SCENARIO=slow STAGING_CHECK_SLOW_SECONDS=2.5 ORCH_STAGING_RUNNER_HEARTBEAT=1 {} run {} --repo r --transport local --no-push",
        check_script().display(),
        bin().display(),
        item.display()
    );
    let Some(tty) = pty("", &cmd) else { return };
    assert!(tty.contains("\r\x1b[2Kstagerun: attempt 1/3"), "{tty:?}");
    assert!(!tty.contains("still running after"), "{tty:?}");
    let ci = pty("CI=true", &cmd).unwrap();
    assert!(
        ci.contains("still running after") && !ci.contains("\r\x1b[2Kstagerun: attempt"),
        "{ci:?}"
    );
}
