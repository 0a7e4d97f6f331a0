//! The TAP reader against the reference parser: every stream of the
//! tap-parser 13.0.1 corpus (`../shared/conformance/tap`, beside the
//! checkout; never copied in) is printed by a suite that exits 0 and run
//! through the built binary, as a user would. stagerun may be stricter than
//! the reference (HOLD where it says ok, each case listed with its reason
//! in docs/suite-formats.md) but never more lenient (SUCCESS where it says
//! not ok), and never FAILED where it says ok.
//!
//! The 156 runs go through a few worker threads: each is a short local run
//! (about 10 ms in release), so the whole corpus takes a few seconds even
//! in a debug build on two cores, and the test runs the real binary end to
//! end (capture, parser, verdict, exit code) rather than the parser alone.

use crate::common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const WORKERS: usize = 4;

fn corpus() -> PathBuf {
    repo_root().join("../shared/conformance/tap")
}

fn available(dir: &Path) -> Result<(), String> {
    if dir.join("expected.tsv").is_file() && dir.join("fixtures").is_dir() {
        Ok(())
    } else {
        Err(format!(
            "no TAP conformance corpus at {} (expected.tsv and fixtures/)",
            dir.display()
        ))
    }
}

/// (fixture, reference says ok) from expected.tsv.
fn expected(dir: &Path) -> Vec<(String, bool)> {
    let text = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (name, verdict) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("bad row {l:?}"));
            match verdict {
                "ok" => (name.to_string(), true),
                "not-ok" => (name.to_string(), false),
                other => panic!("unknown reference verdict {other:?} for {name}"),
            }
        })
        .collect()
}

/// stagerun's verdict for one fixture, from its exit code.
fn verdict(sb: &Sandbox, fixture: &Path) -> &'static str {
    let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
    let suite = sb.write(
        &format!("suites/{name}.sh"),
        &format!("cat '{}'\nexit 0\n", fixture.display()),
    );
    let item = sb.work_item(&uid("ORCH"));
    let out = stagerun_std(sb.path())
        .arg("run")
        .arg(&item)
        .args([
            "--repo",
            "conformance",
            "--transport",
            "local",
            "--python",
            "sh",
        ])
        .args([
            "--suite-format",
            "tap",
            "--no-push",
            "--retries",
            "0",
            "--timeout",
            "20",
        ])
        .arg("--check-script")
        .arg(&suite)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    match out.status.code() {
        Some(0) => "SUCCESS",
        Some(1) => "FAILED",
        Some(75) => "HOLD",
        _ => panic!(
            "{name}: exit {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The fixtures docs/suite-formats.md lists as held, with their reason.
fn documented_held() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(repo_root().join("docs/suite-formats.md")).unwrap();
    let start = doc
        .find("### Held where the reference says ok")
        .expect("docs/suite-formats.md has a section on the held fixtures");
    let section = &doc[start..];
    let section = &section[..section[4..].find("\n#").map_or(section.len(), |i| i + 4)];
    let name = regex::Regex::new(r"`([A-Za-z0-9_.-]+\.tap)`").unwrap();
    name.captures_iter(section)
        .map(|c| c[1].to_string())
        .collect()
}

#[test]
fn the_reference_corpus_is_never_read_more_leniently() {
    let dir = corpus();
    if !require("the TAP conformance corpus", available(&dir)) {
        return;
    }
    let rows = expected(&dir);
    assert!(
        rows.len() >= 150,
        "only {} fixtures in expected.tsv",
        rows.len()
    );
    let queue = Mutex::new(rows.clone());
    let results = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                let sb = Sandbox::new();
                while let Some((name, _)) = queue.lock().unwrap().pop() {
                    let got = verdict(&sb, &dir.join("fixtures").join(&name));
                    results.lock().unwrap().insert(name, got);
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    let mut wrong = Vec::new();
    let mut held = BTreeSet::new();
    for (name, reference_ok) in &rows {
        match (reference_ok, results[name]) {
            (false, "SUCCESS") => wrong.push(format!("false SUCCESS: {name}")),
            (true, "FAILED") => wrong.push(format!("false FAILED: {name}")),
            (true, "HOLD") => {
                held.insert(name.clone());
            }
            _ => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let documented = documented_held();
    let undocumented: Vec<_> = held.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&held).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "docs/suite-formats.md must list exactly the held fixtures: held but not listed {undocumented:?}, listed but not held {stale:?}"
    );
}

fn perl_test_more() -> Result<(), String> {
    let out = std::process::Command::new("perl")
        .args(["-MTest::More", "-e", "1"])
        .output()
        .map_err(|e| format!("perl not installed ({e})"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err("perl has no Test::More (apt-get install perl)".into())
    }
}

/// One run of a suite script: its exit code, `verdict rule`, and the log.
fn run(sb: &Sandbox, python: &str, script: &Path) -> (i32, String, String) {
    let item = sb.work_item(&uid("ORCH"));
    let out = stagerun_std(sb.path())
        .arg("run")
        .arg(&item)
        .args(["--repo", "r", "--transport", "local", "--no-push"])
        .args([
            "--suite-format",
            "tap",
            "--retries",
            "0",
            "--python",
            python,
        ])
        .arg("--check-script")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let verdict = format!(
        "{} {}",
        front(&item, "staging_status").unwrap_or_default(),
        front(&item, "rule").unwrap_or_default()
    );
    (out.status.code().unwrap_or(-1), verdict, log_text(&item))
}

/// Subtests from a real producer (Perl's Test::More), and the streams a
/// producer can print that contradict themselves: issue #21's item 11 (a
/// `not ok` in an indented subtest under an `ok` parent, exit 0) and
/// `pragma +strict` followed by noise, each through the whole binary.
#[test]
fn subtests_and_strict_mode_reach_the_verdict() {
    if !require("perl with Test::More", perl_test_more()) {
        return;
    }
    let sb = Sandbox::new();
    let passing = sb.write(
        "suites/pass.t",
        "use Test::More tests => 2;\nsubtest 'login' => sub { plan tests => 2; ok(1, 'form renders'); ok(1, 'password accepted'); };\nok(1, 'logout');\n",
    );
    let (code, verdict, log) = run(&sb, "perl", &passing);
    assert_eq!(
        (code, verdict.as_str()),
        (0, "SUCCESS suite-passed"),
        "{log}"
    );
    assert!(log.contains("| login | PASS |"), "{log}");
    let failing = sb.write(
        "suites/fail.t",
        "use Test::More tests => 2;\nsubtest 'login' => sub { plan tests => 2; ok(1, 'form renders'); ok(0, 'password accepted'); };\nok(1, 'logout');\n",
    );
    let (code, verdict, log) = run(&sb, "perl", &failing);
    assert_eq!(
        (code, verdict.as_str()),
        (1, "FAILED suite-failing-check"),
        "{log}"
    );
    assert!(log.contains("| login | FAIL |"), "{log}");

    let contradiction = sb.write(
        "suites/contradiction.sh",
        "printf 'TAP version 14\\n1..2\\n# Subtest: login\\n    1..2\\n    ok 1 - form renders\\n    not ok 2 - password accepted\\nok 1 - login\\nok 2 - logout\\n'\nexit 0\n",
    );
    let (code, verdict, log) = run(&sb, "sh", &contradiction);
    assert_eq!(
        (code, verdict.as_str()),
        (1, "FAILED suite-failing-check"),
        "{log}"
    );
    assert!(
        log.contains("| login › password accepted | FAIL |")
            && log.contains("parent and child disagree"),
        "{log}"
    );

    let strict = sb.write(
        "suites/strict.sh",
        "printf 'TAP version 14\\npragma +strict\\n1..1\\nWARNING: cache cold\\nok 1 - health\\n'\nexit 0\n",
    );
    let (code, verdict, log) = run(&sb, "sh", &strict);
    assert_eq!(
        (code, verdict.as_str()),
        (1, "FAILED suite-failing-check"),
        "{log}"
    );
    assert!(
        log.contains("line 4 is not TAP while `pragma +strict` is on"),
        "{log}"
    );
    let trailing_space = sb.write(
        "suites/space.sh",
        "printf '1..2 \\nok 1\\nok 2\\n'\nexit 0\n",
    );
    let (code, verdict, log) = run(&sb, "sh", &trailing_space);
    assert_eq!(
        (code, verdict.as_str()),
        (75, "HOLD suite-incomplete"),
        "{log}"
    );
    assert!(log.contains("`1..2 ` is not a plan"), "{log}");
}
