use super::*;
use std::path::Path;

fn fixture(name: &str) -> SuiteReport {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("suites")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    feed_bytes(&bytes).0
}

// Recorded output of Debian's bats 1.8.2 (fixtures/README.md).

#[test]
fn bats_all_pass() {
    let r = fixture("bats-pass.tap");
    assert_eq!(
        (r.incomplete.as_deref(), r.failing, r.results),
        (None, false, 3)
    );
    assert_eq!(r.table.checks[0].id, "addition works");
}

#[test]
fn bats_one_failure() {
    let r = fixture("bats-fail.tap");
    assert_eq!(
        (r.incomplete.as_deref(), r.failing, r.results),
        (None, true, 3)
    );
    assert_eq!(
        statuses(&r)[1],
        ("second fails".into(), Status::Fail, "second fails".into())
    );
}

#[test]
fn bats_tap13_failure_message_from_yaml() {
    let r = fixture("bats-fail-tap13.tap");
    assert_eq!(
        (r.incomplete.as_deref(), r.failing, r.results),
        (None, true, 3)
    );
    assert_eq!(
        r.table.checks[1].detail,
        "(in test file bats-fail.bats, line 10) `[ 2 -eq 3 ]' failed expected 2, got 3"
    );
}

#[test]
fn bats_skip() {
    let r = fixture("bats-skip.tap");
    assert_eq!(
        (r.incomplete.as_deref(), r.failing, r.results),
        (None, false, 1)
    );
    assert_eq!(
        statuses(&r)[1],
        (
            "needs a database".into(),
            Status::Skip,
            "no database on this host".into()
        )
    );
    assert_eq!(
        statuses(&r)[2],
        (
            "skipped without a reason".into(),
            Status::Skip,
            String::new()
        )
    );
}

#[test]
fn bats_tap13_skip_is_not_ok_skip() {
    // bats' tap13 formatter prints skips as `not ok … # SKIP`.
    let r = fixture("bats-skip-tap13.tap");
    assert_eq!(
        (r.incomplete.as_deref(), r.failing, r.results),
        (None, false, 1)
    );
    assert_eq!(r.table.counts().skip, 2);
}

#[test]
fn perl_test_more() {
    // Escaped `\#`, a skip, a TODO failure and a commented subtest.
    let r = fixture("perl-testmore.tap");
    assert_eq!(
        (r.incomplete.as_deref(), r.failing, r.results),
        (None, true, 4)
    );
    assert_eq!(
        statuses(&r),
        [
            ("first".to_string(), Status::Pass, String::new()),
            (
                "second # not a directive".to_string(),
                Status::Fail,
                "second # not a directive".to_string()
            ),
            ("test 3".to_string(), Status::Skip, "no net".to_string()),
            ("todo one".to_string(), Status::Todo, "later".to_string()),
            ("inner".to_string(), Status::Pass, String::new()),
        ]
    );
}

#[test]
fn bats_killed_midway_is_incomplete() {
    let r = fixture("bats-killed.tap");
    assert_eq!(r.incomplete.as_deref(), Some("planned 3 tests, saw 1"));
    assert!(!r.failing);
    assert_eq!(r.results, 1);
}
