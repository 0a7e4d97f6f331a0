//! Flake memory against real git repositories holding logs that real
//! stagerun runs wrote (local transport, the fixture suite speaking the
//! checks format): `stagerun history`, the failing check's history where
//! the failure is reported (the verdict never changes), the cache, the SVG
//! rendered by rsvg-convert (`stagerun status` is in status.rs).

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command as Std;

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Std::new("git")
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

/// A repository with one commit on main, at `<sandbox>/work`.
pub fn repo(sb: &Sandbox) -> PathBuf {
    let work = sb.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["config", "user.email", "dev@example.com"]);
    git(&work, &["config", "user.name", "Dev"]);
    std::fs::write(work.join("README.md"), "work items\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "init"]);
    work
}

/// A new work item in the repository.
pub fn item(work: &Path) -> PathBuf {
    let dir = work.join("docs/work-items").join(uid("ORCH"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("01-request.md"), "# request\n").unwrap();
    dir
}

/// `stagerun run` of `item` with the fixture suite printing `lines`
/// ("C1 PASS ok\n…"), exiting 1 when one fails.
pub fn run_checks(sb: &Sandbox, item: &Path, lines: &str) -> assert_cmd::Command {
    let mut cmd = sb.run_local(item, "script");
    cmd.env("STAGING_CHECK_STDOUT", lines).env(
        "STAGING_CHECK_EXIT",
        if lines.contains(" FAIL") { "1" } else { "0" },
    );
    cmd
}

pub fn commit(work: &Path, message: &str) {
    git(work, &["add", "-A"]);
    git(work, &["commit", "-q", "-m", message]);
}

fn history_json(sb: &Sandbox, path: &Path, extra: &[&str]) -> serde_json::Value {
    let out = stagerun(sb.path())
        .arg("history")
        .arg(path)
        .arg("--json")
        .args(extra)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v = json(&out);
    assert_valid_against(&v, "docs/history.schema.json");
    v
}

fn check<'a>(v: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {v}"))
}

/// Run i of ten: C1 fails every other run, C2 in the last five, C3 never.
fn plan(i: usize) -> String {
    let c1 = if i % 2 == 1 { "FAIL flaky" } else { "PASS ok" };
    let c2 = if i >= 5 { "FAIL broken" } else { "PASS ok" };
    format!("C1 {c1}\nC2 {c2}\nC3 PASS ok\nC9a WAIVED rig\n")
}

/// Ten runs, one work item each; runs 5-9 are committed on a feature
/// branch that is then left (not checked out).
fn ten_runs(sb: &Sandbox, work: &Path) {
    for i in 0..10 {
        if i == 5 {
            git(work, &["checkout", "-q", "-b", "feature/later"]);
        }
        let code = if plan(i).contains("FAIL") { 1 } else { 0 };
        run_checks(sb, &item(work), &plan(i)).assert().code(code);
        commit(work, &format!("run {i}"));
    }
    git(work, &["checkout", "-q", "main"]);
}

#[test]
fn history_names_flaky_broken_and_stable_checks_and_hold_runs_change_nothing() {
    let sb = Sandbox::new();
    let work = repo(&sb);
    ten_runs(&sb, &work);
    assert_eq!(
        work.join("docs/work-items").read_dir().unwrap().count(),
        5,
        "the feature branch's work items are not checked out"
    );
    let v = history_json(&sb, &work, &[]);
    assert_eq!(v["runs"]["total"], 10, "{v}");
    let c1 = check(&v, "C1");
    assert_eq!(
        (
            c1["label"].as_str(),
            c1["runs"].as_u64(),
            c1["fail"].as_u64()
        ),
        (Some("flaky"), Some(10), Some(5))
    );
    assert!(c1["flip_rate"].as_f64().unwrap() >= 0.9, "{c1}");
    assert_eq!(c1["flips"], 9);
    let c2 = check(&v, "C2");
    assert_eq!(
        (c2["label"].as_str(), c2["fail"].as_u64()),
        (Some("broken"), Some(5))
    );
    let c3 = check(&v, "C3");
    assert_eq!(
        (
            c3["label"].as_str(),
            c3["fail"].as_u64(),
            c3["runs"].as_u64()
        ),
        (Some("stable"), Some(0), Some(10))
    );
    assert_eq!(check(&v, "C9a")["waived"], 10);
    let order: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(&order[..3], ["C2", "C1", "C3"]);

    // HOLD runs: one timed out after printing check lines (its table shows
    // them), one whose check script is missing.
    let hold = item(&work);
    let mut timed_out = run_checks(
        &sb,
        &hold,
        "C1 FAIL seen\nC2 PASS seen\nC3 FAIL seen\nC7 FAIL new\n",
    );
    timed_out
        .env("STAGING_CHECK_SLEEP", "30")
        .args(["--timeout", "1", "--retries", "0"]);
    timed_out.assert().code(75);
    assert!(
        log_text(&hold).contains("| C3 | FAIL |"),
        "{}",
        log_text(&hold)
    );
    commit(&work, "hold run 1");
    let missing = item(&work);
    run_checks(&sb, &missing, "C1 FAIL x\n")
        .env(
            "ORCH_STAGING_RUNNER_CHECK_SCRIPT",
            "/nonexistent/staging_check.py",
        )
        .assert()
        .code(75);
    commit(&work, "hold run 2");
    let after = history_json(&sb, &work, &[]);
    assert_eq!(after["runs"]["total"], 12);
    assert_eq!(after["runs"]["hold"], 2);
    assert_eq!(
        after["checks"].to_string(),
        v["checks"].to_string(),
        "HOLD runs must leave every per-check figure as it was"
    );

    // A failing run on the flaky check: FAILED (exit 1) whatever its history says.
    let summary = sb.path().join("summary.md");
    let junit = sb.path().join("junit.xml");
    let failing = item(&work);
    let out = run_checks(&sb, &failing, "C1 FAIL again\nC2 PASS fixed\nC3 PASS ok\n")
        .args(["--json", "--junit"])
        .arg(&junit)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let r = json(&out.stdout);
    assert_schema_valid(&r);
    assert_eq!(r["verdict"], "FAILED");
    assert_eq!(r["exit_code"], 1);
    assert_eq!(front(&failing, "staging_status").as_deref(), Some("FAILED"));
    let note = &r["check_list"][0]["history"];
    assert_eq!(note["label"], "flaky", "{r}");
    let text = note["text"].as_str().unwrap().to_string();
    assert!(
        text.starts_with("flaky: failed 6 of its last 11 runs, 9 flips; last on ORCH"),
        "{text}"
    );
    assert!(
        r["check_list"][1].get("history").is_none(),
        "a passing check says nothing"
    );
    assert_eq!(r["history"]["status"], "read");
    let log = log_text(&failing);
    let row = log.lines().find(|l| l.starts_with("| C1 |")).unwrap();
    assert!(row.contains("| FAIL |") && row.contains(&text), "{row}");
    assert!(
        !log.contains("history:\n") && !log.contains("earlier_runs"),
        "where it was read from stays out of the log"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let verdict_line = stderr
        .lines()
        .find(|l| l.contains("FAILED (exit 1)"))
        .unwrap();
    assert!(
        verdict_line.contains(&format!("history: C1 ({text})")),
        "{verdict_line}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(&format!("again [history: {text}]")), "{xml}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("| Check | Status | Detail | History |") && md.contains(&text),
        "{md}"
    );

    // The same history as markdown and as a table.
    let md = stagerun(sb.path())
        .args(["history", "--format", "markdown"])
        .arg(&work)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let md = String::from_utf8(md).unwrap();
    assert!(md.contains("| C1 | **flaky** | 11 | 5 | 6 |"), "{md}");
    let table = stagerun(sb.path())
        .arg("history")
        .arg(&work)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(table).unwrap();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("C1") && l.contains("flaky")),
        "{table}"
    );
    // GitLab's result section says it too; a third failure in a row is broken.
    let gl = run_checks(&sb, &item(&work), "C1 FAIL again\nC2 PASS ok\n")
        .env("GITLAB_CI", "true")
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let gl = String::from_utf8_lossy(&gl);
    assert!(
        gl.contains("history: C1 FAIL: broken: failed each of its last 3 runs"),
        "{gl}"
    );
}

#[test]
fn a_hold_attempt_inside_an_answered_run_counts_for_nothing() {
    let sb = Sandbox::new();
    let work = repo(&sb);
    // The first attempt prints a failing C1 and hangs (our timeout, a
    // transient fault); the retry passes.
    let count = sb.path().join("attempts");
    let script = sb.write(
        "suite.py",
        &format!(
            "import os, sys, time\np = {count:?}\nn = int(open(p).read()) if os.path.exists(p) else 0\nopen(p, 'w').write(str(n + 1))\nif n == 0:\n    print('C1 FAIL lost mid-run', flush=True)\n    time.sleep(30)\nprint('C1 PASS ok')\nprint('C2 PASS ok')\n"
        ),
    );
    let it = item(&work);
    run_checks(&sb, &it, "")
        .env("ORCH_STAGING_RUNNER_CHECK_SCRIPT", &script)
        .args(["--timeout", "2", "--retries", "1"])
        .assert()
        .code(0);
    assert_eq!(attempts(&it), 2, "{}", log_text(&it));
    commit(&work, "run");
    let v = history_json(&sb, &work, &[]);
    let c1 = check(&v, "C1");
    assert_eq!(
        (
            c1["runs"].as_u64(),
            c1["pass"].as_u64(),
            c1["fail"].as_u64()
        ),
        (Some(1), Some(1), Some(0)),
        "{v}"
    );
}

#[test]
fn outside_a_repository_nothing_is_said_and_history_is_a_usage_error() {
    let sb = Sandbox::new();
    let it = sb.work_item(&uid("ORCH"));
    let out = run_checks(&sb, &it, "C1 FAIL x\n")
        .arg("--json")
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let r = json(&out);
    assert_eq!(r["history"]["status"], "none", "{r}");
    assert!(r["check_list"][0].get("history").is_none());
    assert!(!log_text(&it).contains("| History |"));
    stagerun(sb.path())
        .args(["history"])
        .arg(sb.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("is not in a git repository"));
    // With no earlier runs, nothing is said either.
    let work = repo(&sb);
    let first = item(&work);
    let out = run_checks(&sb, &first, "C1 FAIL x\n")
        .arg("--json")
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let r = json(&out);
    assert_eq!(r["history"]["status"], "read", "{r}");
    assert!(r["check_list"][0].get("history").is_none(), "{r}");
}

#[test]
fn the_cache_follows_the_refs_and_a_run_is_counted_once() {
    let sb = Sandbox::new();
    let work = repo(&sb);
    for i in 0..3 {
        let code = if plan(i).contains("FAIL") { 1 } else { 0 };
        run_checks(&sb, &item(&work), &plan(i)).assert().code(code);
        commit(&work, "run");
    }
    // The failing run wrote a cache already (its history was read).
    assert!(work.join(".git/stagerun/history.cache").is_file());
    std::fs::remove_dir_all(work.join(".git/stagerun")).unwrap();
    let v = history_json(&sb, &work, &[]);
    assert_eq!(
        (v["runs"]["total"].as_u64(), v["source"]["cache"].as_str()),
        (Some(3), Some("cold"))
    );
    assert!(work.join(".git/stagerun/history.cache").is_file());
    let v = history_json(&sb, &work, &[]);
    assert_eq!(
        (
            v["source"]["cache"].as_str(),
            v["source"]["versions_read"].as_u64()
        ),
        (Some("warm"), Some(0))
    );
    // Two versions of one run (the log edited by hand afterwards): one run.
    let edited = item(&work);
    run_checks(&sb, &edited, &plan(1)).assert().code(1);
    commit(&work, "run");
    let log = edited.join("15-staging-log.md");
    let text = std::fs::read_to_string(&log).unwrap() + "\nReviewed by a person.\n";
    std::fs::write(&log, text).unwrap();
    commit(&work, "note");
    let v = history_json(&sb, &work, &[]);
    assert_eq!(
        (v["runs"]["total"].as_u64(), v["source"]["cache"].as_str()),
        (Some(4), Some("updated"))
    );
    assert_eq!(
        check(&v, "C1")["fail"],
        2,
        "runs 1 and the edited one, once each"
    );
    // A branch with runs, then deleted: its runs are no longer history.
    git(&work, &["checkout", "-q", "-b", "gone"]);
    run_checks(&sb, &item(&work), &plan(3)).assert().code(1);
    commit(&work, "run on gone");
    git(&work, &["checkout", "-q", "main"]);
    assert_eq!(history_json(&sb, &work, &[])["runs"]["total"], 5);
    git(&work, &["branch", "-q", "-D", "gone"]);
    let v = history_json(&sb, &work, &[]);
    assert_eq!(
        (v["runs"]["total"].as_u64(), v["source"]["cache"].as_str()),
        (Some(4), Some("cold"))
    );
    // An uncommitted log in the work tree counts; filters narrow.
    run_checks(&sb, &item(&work), &plan(5)).assert().code(1);
    let v = history_json(&sb, &work, &["--no-cache"]);
    assert_eq!(
        (
            v["runs"]["total"].as_u64(),
            v["source"]["work_tree_logs"].as_u64()
        ),
        (Some(5), Some(1))
    );
    let v = history_json(&sb, &work, &["--last", "2", "--check", "C2"]);
    assert_eq!(v["runs"]["total"], 2);
    assert_eq!(v["checks"].as_array().unwrap().len(), 1);
    assert_eq!(
        history_json(&sb, &work, &["--repo", "elsewhere"])["runs"]["total"],
        0
    );
    assert_eq!(
        history_json(&sb, &work, &["--since", "2999-01-01"])["runs"]["total"],
        0
    );
    stagerun(sb.path())
        .args(["history", "--since", "last week"])
        .arg(&work)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--since"));
}

#[test]
fn the_heat_map_renders_with_rsvg_convert() {
    if !require(
        "rsvg-convert (librsvg2-bin)",
        Std::new("rsvg-convert")
            .arg("--version")
            .output()
            .map(|_| ())
            .map_err(|e| e.to_string()),
    ) {
        return;
    }
    let sb = Sandbox::new();
    let work = repo(&sb);
    ten_runs(&sb, &work);
    let hold = item(&work);
    run_checks(&sb, &hold, "C1 PASS x\n")
        .env(
            "ORCH_STAGING_RUNNER_CHECK_SCRIPT",
            "/nonexistent/staging_check.py",
        )
        .assert()
        .code(75);
    commit(&work, "hold");
    let out = stagerun(sb.path())
        .args(["history", "--format", "svg"])
        .arg(&work)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let svg = String::from_utf8(out).unwrap();
    assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
    assert!(
        svg.contains(">broken</text>")
            && svg.contains(">flaky</text>")
            && svg.contains(">stable</text>")
    );
    assert!(
        svg.contains("HOLD (permanent-env): counts for nothing"),
        "the HOLD run is a grey column"
    );
    let file = sb.path().join("history.svg");
    std::fs::write(&file, &svg).unwrap();
    let lint = Std::new("xmllint")
        .arg("--noout")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "{}",
        String::from_utf8_lossy(&lint.stderr)
    );
    let png = repo_root().join("target/history-heatmap.png");
    let r = Std::new("rsvg-convert")
        .arg("-o")
        .arg(&png)
        .arg(&file)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    let (w, h) = (
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
    );
    assert!(w >= 400 && h >= 150, "{w}x{h}");
}
