//! Best-effort push of the log against real git remotes: the verdict never
//! depends on it, it is bounded in time whatever a hook does, the user's
//! own git settings win, and CI's detached HEAD is handled.

use crate::common::*;
use predicates::prelude::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

struct Repo {
    bare: PathBuf,
    work: PathBuf,
    item: PathBuf,
    branch: String,
}

/// A clone of a bare repository, on a feature branch, with a work item.
fn repo_with_remote(sb: &Sandbox) -> Repo {
    let id = uid("ORCH");
    let branch = format!("feature/{id}");
    let bare = sb.path().join("remote.git");
    let work = sb.path().join("work");
    git(
        sb.path(),
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    git(
        sb.path(),
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    git(&work, &["config", "user.email", "dev@example.com"]);
    git(&work, &["config", "user.name", "Dev"]);
    git(&work, &["checkout", "-q", "-b", &branch]);
    let item = work.join("docs/work-items").join(&id);
    std::fs::create_dir_all(&item).unwrap();
    std::fs::write(item.join("01-request.md"), "# request\n").unwrap();
    std::fs::write(work.join("unrelated.txt"), "staged but not ours\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "work item"]);
    git(&work, &["push", "-q", "origin", &branch]);
    std::fs::write(work.join("unrelated.txt"), "changed and staged\n").unwrap();
    git(&work, &["add", "unrelated.txt"]);
    Repo {
        bare,
        work,
        item,
        branch,
    }
}

fn run_with_push(
    sb: &Sandbox,
    item: &Path,
    scenario: &str,
    extra: &[(&str, &str)],
) -> assert_cmd::assert::Assert {
    let mut cmd = stagerun(sb.path());
    cmd.arg("run")
        .arg(item)
        .args(["--repo", "orch-core", "--transport", "local", "--json"])
        .env("ORCH_STAGING_RUNNER_CHECK_SCRIPT", check_script())
        .env("STAGING_CHECK_SCENARIO", scenario)
        .timeout(Duration::from_secs(60));
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.assert()
}

fn out_json(a: &assert_cmd::assert::Assert) -> serde_json::Value {
    let v = json(&a.get_output().stdout);
    assert_schema_valid(&v);
    v
}

#[test]
fn log_is_committed_alone_and_pushed_to_the_feature_branch() {
    let sb = Sandbox::new();
    let r = repo_with_remote(&sb);
    let v = out_json(&run_with_push(&sb, &r.item, "pass", &[]).code(0));
    assert_eq!(v["push"]["status"], "pushed", "{v}");
    let id = r.item.file_name().unwrap().to_str().unwrap();
    let msg = git(&r.bare, &["log", "-1", "--format=%s", &r.branch]);
    assert_eq!(
        msg,
        format!("deploy-staging({id}): staging gate SUCCESS (9/11 PASS, C9a/C9b waived)")
    );
    let files = git(&r.bare, &["show", "--name-only", "--format=", &r.branch]);
    assert_eq!(
        files,
        format!("docs/work-items/{id}/15-staging-log.md"),
        "only the log is committed"
    );
    assert_eq!(
        git(&r.bare, &["log", "-1", "--format=%ae", &r.branch]),
        "dev@example.com"
    );
}

#[test]
fn push_failure_or_hang_never_changes_the_verdict_and_keeps_gits_words() {
    let sb = Sandbox::new();
    let r = repo_with_remote(&sb);
    let missing = sb.path().join("no-such-remote.git");
    git(
        &r.work,
        &["remote", "set-url", "origin", missing.to_str().unwrap()],
    );
    let v = out_json(
        &run_with_push(&sb, &r.item, "pass", &[])
            .code(0)
            .stderr(predicate::str::contains("push failed (verdict unchanged)")),
    );
    assert_eq!(v["verdict"], "SUCCESS");
    assert_eq!(v["push"]["status"], "failed");
    let detail = v["push"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("does not appear to be a git repository"),
        "the meaningful line is kept: {detail}"
    );

    // A listener that accepts and never answers: bounded by push_timeout.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    git(
        &r.work,
        &[
            "remote",
            "set-url",
            "origin",
            &format!("git://127.0.0.1:{port}/hang.git"),
        ],
    );
    let start = Instant::now();
    let v = out_json(
        &run_with_push(
            &sb,
            &r.item,
            "pass",
            &[("ORCH_STAGING_RUNNER_PUSH_TIMEOUT", "2")],
        )
        .code(0),
    );
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(v["push"]["status"], "failed");
    assert!(
        v["push"]["detail"].as_str().unwrap().contains("timed out"),
        "{v}"
    );
    drop(listener);

    // --no-push skips it; a FAILED verdict stays FAILED.
    let v = out_json(
        &run_with_push(
            &sb,
            &r.item,
            "fail",
            &[("ORCH_STAGING_RUNNER_PUSH", "false")],
        )
        .code(1),
    );
    assert_eq!(v["push"]["status"], "skipped");
}

#[test]
fn a_hook_that_detaches_and_keeps_the_pipes_cannot_hold_the_push() {
    let sb = Sandbox::new();
    let r = repo_with_remote(&sb);
    let hook = r.work.join(".git/hooks/pre-push");
    std::fs::write(&hook, "#!/bin/sh\nsetsid sleep 60 &\nsleep 60\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let start = Instant::now();
    let v = out_json(
        &run_with_push(
            &sb,
            &r.item,
            "pass",
            &[("ORCH_STAGING_RUNNER_PUSH_TIMEOUT", "3")],
        )
        .code(0),
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "push_timeout 3 took {:?}",
        start.elapsed()
    );
    assert_eq!(v["push"]["status"], "failed");
    let _ = Command::new("pkill").args(["-f", "^sleep 60$"]).status();
}

#[test]
fn the_users_git_ssh_command_wins() {
    let sb = Sandbox::new();
    let r = repo_with_remote(&sb);
    // An ssh remote on a port nobody listens on: whichever ssh command runs says so.
    let witness = sb.path().join("used-my-ssh");
    let my_ssh = sb.write(
        "my-ssh",
        &format!("#!/bin/sh\ntouch {}\nexit 255\n", witness.display()),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&my_ssh, std::fs::Permissions::from_mode(0o755)).unwrap();
    git(
        &r.work,
        &[
            "remote",
            "set-url",
            "origin",
            "ssh://git@127.0.0.1:1/repo.git",
        ],
    );
    let v = out_json(
        &run_with_push(
            &sb,
            &r.item,
            "pass",
            &[("GIT_SSH_COMMAND", my_ssh.to_str().unwrap())],
        )
        .code(0),
    );
    assert_eq!(v["push"]["status"], "failed");
    assert!(witness.exists(), "GIT_SSH_COMMAND was replaced");
    std::fs::remove_file(&witness).unwrap();
    git(
        &r.work,
        &["config", "core.sshCommand", my_ssh.to_str().unwrap()],
    );
    out_json(&run_with_push(&sb, &r.item, "pass", &[]).code(0));
    assert!(witness.exists(), "core.sshCommand was overridden");
}

#[test]
fn a_push_rejected_as_non_fast_forward_is_rebased_once() {
    let sb = Sandbox::new();
    let r = repo_with_remote(&sb);
    // Someone else pushes to the branch meanwhile.
    let other = sb.path().join("other");
    git(
        sb.path(),
        &[
            "clone",
            "-q",
            "-b",
            &r.branch,
            r.bare.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    git(&other, &["config", "user.email", "o@example.com"]);
    git(&other, &["config", "user.name", "O"]);
    std::fs::write(other.join("other.txt"), "x\n").unwrap();
    git(&other, &["add", "."]);
    git(&other, &["commit", "-q", "-m", "other change"]);
    git(&other, &["push", "-q", "origin", &r.branch]);
    // The unrelated staged change must not block the rebase.
    git(&r.work, &["reset", "-q", "unrelated.txt"]);
    git(&r.work, &["checkout", "-q", "--", "unrelated.txt"]);
    let v = out_json(&run_with_push(&sb, &r.item, "pass", &[]).code(0));
    assert_eq!(v["push"]["status"], "pushed", "{v}");
    assert!(
        v["push"]["detail"].as_str().unwrap().contains("rebased"),
        "{v}"
    );
    let log = git(&r.bare, &["log", "--format=%s", &r.branch]);
    assert!(
        log.starts_with("deploy-staging(") && log.contains("other change"),
        "{log}"
    );
}

#[test]
fn a_detached_head_in_ci_pushes_to_the_ci_branch() {
    let sb = Sandbox::new();
    let r = repo_with_remote(&sb);
    let head = git(&r.work, &["rev-parse", "HEAD"]);
    git(&r.work, &["checkout", "-q", "--detach", &head]);
    let v = out_json(&run_with_push(&sb, &r.item, "pass", &[]).code(0));
    assert_eq!(v["push"]["status"], "failed");
    assert!(
        v["push"]["detail"]
            .as_str()
            .unwrap()
            .contains("CI_COMMIT_REF_NAME"),
        "{v}"
    );
    let v = out_json(
        &run_with_push(&sb, &r.item, "pass", &[("CI_COMMIT_REF_NAME", &r.branch)]).code(0),
    );
    assert_eq!(v["push"]["status"], "pushed", "{v}");
    let v = out_json(
        &run_with_push(
            &sb,
            &r.item,
            "pass",
            &[("GITHUB_HEAD_REF", ""), ("GITHUB_REF_NAME", &r.branch)],
        )
        .code(0),
    );
    assert_eq!(v["push"]["status"], "pushed", "{v}");
}

#[test]
fn a_signal_during_the_push_ends_it_at_once_and_the_verdict_stands() {
    let sb = Sandbox::new();
    let r = repo_with_remote(&sb);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    git(
        &r.work,
        &[
            "remote",
            "set-url",
            "origin",
            &format!("git://127.0.0.1:{port}/hang.git"),
        ],
    );
    let mut child = stagerun_std(sb.path())
        .arg("run")
        .arg(&r.item)
        .args(["--repo", "orch-core", "--transport", "local", "--json"])
        .env("ORCH_STAGING_RUNNER_CHECK_SCRIPT", check_script())
        .env("STAGING_CHECK_SCENARIO", "pass")
        .env("ORCH_STAGING_RUNNER_PUSH_TIMEOUT", "120")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while !r.item.join("15-staging-log.md").exists() {
        assert!(Instant::now() < until);
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(800));
    let start = Instant::now();
    signal(child.id(), libc::SIGTERM);
    let (code, _) = wait_exit(&mut child, Duration::from_secs(20));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(code, 0, "the recorded SUCCESS stands");
    let mut out = String::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let v = json(out.as_bytes());
    assert_eq!(v["push"]["status"], "failed");
    assert!(
        v["push"]["detail"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{v}"
    );
    drop(listener);
}

#[test]
fn alert_hook_runs_on_hold_with_context_and_its_failure_changes_nothing() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let out_file = sb.path().join("alert.txt");
    let hook = format!(
        "printf '%s|%s|%s|%s' \"$STAGERUN_VERDICT\" \"$STAGERUN_WORK_ITEM\" \"$STAGERUN_RULE\" \"$STAGERUN_LOG\" > {}",
        out_file.display()
    );
    sb.run_local(&item, "silent")
        .env("ORCH_STAGING_RUNNER_ALERT_COMMAND", &hook)
        .assert()
        .code(75);
    let id = item.file_name().unwrap().to_str().unwrap();
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        text.starts_with(&format!("HOLD|{id}|suite-no-evidence|")),
        "{text}"
    );
    assert!(text.ends_with(&format!("{id}/15-staging-log.md")));
    sb.run_local(&item, "silent")
        .env("ORCH_STAGING_RUNNER_ALERT_COMMAND", "exit 9")
        .assert()
        .code(75)
        .stderr(predicate::str::contains("alert hook failed"));
    std::fs::remove_file(&out_file).unwrap();
    sb.run_local(&item, "pass")
        .env("ORCH_STAGING_RUNNER_ALERT_COMMAND", &hook)
        .assert()
        .code(0);
    assert!(!out_file.exists(), "no alert on SUCCESS");
    let _ = Stdio::null();
}

/// `push_branch: refs/heads/X` is the branch X (it once pushed to
/// `refs/heads/refs/heads/X`); a ref that is not a branch is refused.
#[test]
fn a_full_ref_as_push_branch_is_the_branch_never_doubled() {
    let sb = Sandbox::new();
    let r = repo_with_remote(&sb);
    let full = format!("refs/heads/{}", r.branch);
    let v = out_json(
        &run_with_push(
            &sb,
            &r.item,
            "pass",
            &[("ORCH_STAGING_RUNNER_PUSH_BRANCH", &full)],
        )
        .code(0),
    );
    assert_eq!(v["push"]["status"], "pushed", "{v}");
    let refs = git(&r.bare, &["for-each-ref", "--format=%(refname)"]);
    assert!(refs.lines().any(|l| l == full), "{refs}");
    assert!(!refs.contains("refs/heads/refs/"), "{refs}");
    let id = r.item.file_name().unwrap().to_str().unwrap();
    let msg = git(&r.bare, &["log", "-1", "--format=%s", &full]);
    assert!(msg.starts_with(&format!("deploy-staging({id})")), "{msg}");
    // A tag or a remote-tracking ref is not where a log goes.
    for other in ["refs/tags/v1", "refs/remotes/origin/main"] {
        run_with_push(
            &sb,
            &r.item,
            "pass",
            &[("ORCH_STAGING_RUNNER_PUSH_BRANCH", other)],
        )
        .code(78)
        .stderr(predicate::str::contains("not a branch"));
    }
}

/// The terminal says what happened to the push in one line on every path
/// that writes the log (without --json too): pushed where, skipped and
/// why, failed and why.
#[test]
fn the_terminal_says_in_one_line_what_happened_to_the_push() {
    let sb = Sandbox::new();
    let push_lines = |a: &assert_cmd::assert::Assert| -> Vec<String> {
        String::from_utf8_lossy(&a.get_output().stderr)
            .lines()
            .filter(|l| l.contains("log push") || l.contains("log committed"))
            .map(str::to_string)
            .collect()
    };
    let run = |item: &Path, scenario: &str, push: bool| {
        let mut cmd = stagerun(sb.path());
        cmd.arg("run")
            .arg(item)
            .args(["--repo", "orch-core", "--transport", "local", "--quiet"])
            .env("ORCH_STAGING_RUNNER_CHECK_SCRIPT", check_script())
            .env("ORCH_STAGING_RUNNER_INFRA_RETRIES", "0")
            .env("STAGING_CHECK_SCENARIO", scenario)
            .timeout(Duration::from_secs(60));
        if !push {
            cmd.arg("--no-push");
        }
        cmd.assert()
    };
    // Outside a git work tree: skipped, and why (a HOLD writes its log too).
    let outside = sb.work_item(&uid("ORCH"));
    for (scenario, code) in [("pass", 0), ("fail", 1), ("silent", 75)] {
        let a = run(&outside, scenario, true).code(code);
        assert_eq!(
            push_lines(&a),
            [format!(
                "stagerun: log push skipped: the work item folder {} is not in a git work tree",
                outside.canonicalize().unwrap().display()
            )],
            "{scenario}"
        );
    }
    let a = run(&outside, "pass", false).code(0);
    assert_eq!(
        push_lines(&a),
        ["stagerun: log push skipped: disabled by flag --no-push"]
    );
    // Pushed: where to.
    let r = repo_with_remote(&sb);
    let a = run(&r.item, "pass", true).code(0);
    assert_eq!(
        push_lines(&a),
        [format!(
            "stagerun: log committed and pushed to origin {}",
            r.branch
        )]
    );
    // Failed: why, and that the verdict stands.
    let missing = sb.path().join("no-such-remote.git");
    git(
        &r.work,
        &["remote", "set-url", "origin", missing.to_str().unwrap()],
    );
    let a = run(&r.item, "fail", true).code(1);
    let lines = push_lines(&a);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("stagerun: log push failed (verdict unchanged): git push")
            && lines[0].contains("does not appear to be a git repository")
            && lines[0].ends_with(&format!(
                "the log stays committed locally on {} (`push_remote` names the remote, `push: false` turns the push off)",
                r.branch
            )),
        "{lines:?}"
    );
}
