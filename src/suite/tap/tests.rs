mod recorded;
mod strict;
mod subtests;

use super::*;
use crate::capture::normalize;

fn feed(text: &str) -> (SuiteReport, TapParser) {
    feed_bytes(text.as_bytes())
}

fn feed_bytes(text: &[u8]) -> (SuiteReport, TapParser) {
    let mut p = TapParser::new();
    for l in text.split(|b| *b == b'\n') {
        p.line(&normalize::shown(l), &normalize::overwritten_segments(l));
    }
    p.finish();
    (p.report().clone(), p)
}

fn statuses(r: &SuiteReport) -> Vec<(String, Status, String)> {
    r.table
        .checks
        .iter()
        .map(|c| (c.id.clone(), c.status, c.detail.clone()))
        .collect()
}

#[test]
fn all_pass() {
    let (r, _) = feed("TAP version 14\n1..3\nok 1 - first\nok 2 second\nok 3\n");
    assert_eq!(r.incomplete, None);
    assert_eq!(r.results, 3);
    assert!(!r.failing);
    assert_eq!(r.table.summary(), "3/3 PASS");
    let ids: Vec<_> = r.table.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["first", "second", "test 3"]);
}

#[test]
fn one_failure() {
    let (r, _) = feed("1..3\nok 1 - a\nnot ok 2 - b is wrong\nok 3 - c\n");
    assert!(r.failing);
    assert_eq!(r.incomplete, None);
    assert_eq!(r.results, 3);
    assert_eq!(r.table.counts().fail, 1);
    assert_eq!(r.table.failed_seen[0].detail, "b is wrong");
}

#[test]
fn skip_is_not_evidence_and_not_failure() {
    let (r, p) =
        feed("1..3\nok 1 - a # SKIP no db\nnot ok 2 - b # skip\nok 3 - c # Skipped: later\n");
    assert_eq!(r.incomplete, None, "skips count for the plan");
    assert!(!r.failing);
    assert_eq!(r.results, 0);
    assert!(!r.evidence());
    assert_eq!(p.points(), 3);
    assert_eq!(
        statuses(&r),
        [
            ("a".to_string(), Status::Skip, "no db".to_string()),
            ("b".to_string(), Status::Skip, String::new()),
            ("c".to_string(), Status::Skip, "later".to_string()),
        ]
    );
}

#[test]
fn todo_failing_is_not_a_failure() {
    let (r, _) = feed("1..2\nok 1\nnot ok 2 - parser # TODO not written yet\n");
    assert!(!r.failing);
    assert_eq!(r.results, 2);
    assert_eq!(r.incomplete, None);
    assert_eq!(r.table.checks[1].status, Status::Todo);
    assert_eq!(r.table.checks[1].detail, "not written yet");
}

#[test]
fn todo_passing_is_a_pass_that_says_so() {
    let (r, _) = feed("1..2\nok 1 - fixed # todo was broken\nok 2 - also # TODO\n");
    assert!(!r.failing);
    assert_eq!(
        statuses(&r)[0],
        (
            "fixed".into(),
            Status::Pass,
            "TODO passed: was broken".into()
        )
    );
    assert_eq!(
        statuses(&r)[1],
        ("also".into(), Status::Pass, "TODO passed".into())
    );
}

#[test]
fn bail_out_before_a_failure() {
    let (r, _) = feed("1..3\nok 1\nBail out! MySQL is not running.\nnot ok 2 - after\n");
    assert_eq!(r.bailed.as_deref(), Some("MySQL is not running."));
    assert!(!r.failing, "nothing after the bail-out is read");
    assert_eq!(r.incomplete, None);
    assert_eq!(r.results, 1);
}

#[test]
fn bail_out_after_a_failure() {
    let (r, _) = feed("TAP version 14\n1..573\nnot ok 1 - database handle\nbail out!\nok 2\n");
    assert_eq!(r.bailed.as_deref(), Some("no reason given"));
    assert!(r.failing);
    assert_eq!(
        r.table.checks.len(),
        1,
        "the failing point is recorded before the bail-out"
    );
    assert_eq!(r.incomplete, None);
}

#[test]
fn bail_out_in_a_subtest_stops_everything() {
    let (r, _) =
        feed("1..2\n# Subtest: inner\n    ok 1\n    Bail out! \\# broken\nok 1 - inner\nok 2\n");
    assert_eq!(r.bailed.as_deref(), Some("# broken"));
    assert_eq!(r.results, 0);
}

#[test]
fn missing_plan() {
    let (r, _) = feed("ok 1\nok 2\n");
    assert!(
        r.incomplete
            .as_deref()
            .is_some_and(|s| s.starts_with("no TAP plan (1..N)")),
        "{:?}",
        r.incomplete
    );
    let (r, _) = feed("");
    assert!(r.incomplete.is_some());
    assert!(!r.evidence());
}

#[test]
fn a_plan_with_trailing_space_is_no_plan_and_the_reason_says_so() {
    let (r, _) = feed("1..5 \nok 1 \nok 2 \nok 3 \nok 4 \nok 5 \n");
    assert_eq!(
        r.incomplete.as_deref(),
        Some(
            "no TAP plan (1..N) in the output (5 test points seen; line 1 `1..5 ` is not a plan: a plan line is exactly `1..N`)"
        )
    );
    assert!(!r.failing);
}

#[test]
fn plan_mismatch_fewer_and_more() {
    let (r, _) = feed("1..3\nok 1\nok 2\n");
    assert_eq!(r.incomplete.as_deref(), Some("planned 3 tests, saw 2"));
    let (r, _) = feed("1..2\nok 1\nok 2\nok 3\n");
    assert_eq!(r.incomplete.as_deref(), Some("planned 2 tests, saw 3"));
    // Unnumbered points are numbered by the harness; the count still rules.
    let (r, _) = feed("1..6\nnot ok\nok\nnot ok\nok\nok\n");
    assert_eq!(r.incomplete.as_deref(), Some("planned 6 tests, saw 5"));
}

#[test]
fn plan_at_end() {
    let (r, _) = feed("TAP version 14\nok 1 - a\n# chatter\nok 2 - b\n1..2\n");
    assert_eq!(r.incomplete, None);
    assert_eq!(r.results, 2);
    let (r, _) = feed("ok 1\n1..1\nok 2\n");
    assert_eq!(
        r.incomplete.as_deref(),
        Some("a test point came after the closing plan")
    );
}

#[test]
fn only_one_plan() {
    let (r, _) = feed("1..2\nok 1\nok 2\n1..2\n");
    assert_eq!(
        r.incomplete.as_deref(),
        Some("a second plan `1..2` after 1..2")
    );
    let (r, _) = feed("2..3\nok 2\nok 3\n");
    assert_eq!(
        r.incomplete.as_deref(),
        Some("plan `2..3` is not of the form 1..N")
    );
    let (r, _) = feed("1..99999999999999999999999\nok\n");
    assert!(r.incomplete.is_some());
}

#[test]
fn numbers_must_fit_the_plan_and_not_repeat() {
    let (r, _) = feed("1..2\nok 1\nok 1\n");
    assert_eq!(
        r.incomplete.as_deref(),
        Some("test number 1 was reported twice")
    );
    let (r, _) = feed("1..3\nok 2\nok 4\nok 1\n");
    assert_eq!(
        r.incomplete.as_deref(),
        Some("test number 4 is outside the plan 1..3")
    );
    let (r, _) = feed("1..3\nok 2\nok 3\nok 1\n");
    assert_eq!(r.incomplete, None, "any order is fine");
    let (r, _) = feed("1..1\nok 0\n");
    assert!(r.incomplete.is_some());
}

#[test]
fn skip_all_plan() {
    let (r, p) = feed("TAP version 14\n1..0 # skip because the translator isn't installed\n");
    assert_eq!(r.incomplete, None);
    assert_eq!(r.results, 0);
    assert!(!r.failing);
    assert_eq!(
        p.skip_all_reason(),
        Some("skip because the translator isn't installed")
    );
    // After `1..0` nothing but comments may come (the reference reads a
    // point there as non-TAP); here it leaves the run unproven.
    let (r, _) = feed("1..0\nok 1\n");
    assert_eq!(
        r.incomplete.as_deref(),
        Some("a test point came after the plan 1..0 (no tests)")
    );
    assert_eq!(r.results, 0);
}

#[test]
fn yaml_block_is_data_not_tap() {
    let tap = "TAP version 14\n1..2\nnot ok 1 - resolve address\n  ---\n  message: \"hostname 'peebles' not found\"\n  severity: fail\n  log: |\n    not ok 7 - inner text\n    ok 8\n    Bail out! not really\n  data:\n    got: 1\n  ...\nok 2 - next\n";
    let (r, _) = feed(tap);
    assert_eq!(r.incomplete, None);
    assert_eq!(r.bailed, None);
    assert_eq!(r.results, 2);
    assert_eq!(r.table.checks[0].detail, "hostname 'peebles' not found");
    assert_eq!(r.table.checks.len(), 2);
}

#[test]
fn yaml_message_forms() {
    let cases = [
        ("  message: 'it''s broken'", "it's broken"),
        ("  message: plain words here", "plain words here"),
        ("  message: \"tab\\there \\\"q\\\"\"", "tab here \"q\""),
        (
            "  message: |\n    line one\n    line two\n  severity: fail",
            "line one line two",
        ),
        ("  message: >-\n    folded\n\n    more", "folded more"),
    ];
    for (yaml, want) in cases {
        let (r, _) = feed(&format!("1..1\nnot ok 1 - desc\n  ---\n{yaml}\n  ...\n"));
        assert_eq!(r.table.checks[0].detail, want, "{yaml}");
    }
    // A passing point keeps its own detail.
    let (r, _) = feed("1..1\nok 1 - fine\n  ---\n  message: 'board layout'\n  ...\n");
    assert_eq!(r.table.checks[0].detail, "");
}

#[test]
fn a_long_message_is_capped() {
    let long = "x".repeat(5000);
    let (r, p) = feed(&format!(
        "1..1\nnot ok 1 - d\n  ---\n  message: |\n    {long}\n    {long}\n  ...\n"
    ));
    assert_eq!(
        r.table.checks[0].detail.chars().count(),
        301,
        "the table's own cap, plus its ellipsis"
    );
    assert_eq!(p.points(), 1);
}

#[test]
fn unterminated_yaml_recovers_at_the_next_unindented_line() {
    let (r, _) = feed("1..3\nnot ok 1 - a\n  ---\n  message: boom\nnot ok 2 - b\nok 3\n");
    assert_eq!(r.incomplete, None);
    assert_eq!(r.table.counts().fail, 2);
    assert_eq!(r.table.checks[0].detail, "boom");
    let (r, _) = feed("1..1\nnot ok 1 - a\n  ---\n  message: cut off\n");
    assert_eq!(
        r.incomplete.as_deref(),
        Some("the output ends inside a YAML block (no closing `...`)")
    );
}

#[test]
fn yaml_belongs_to_the_last_point_until_tap_interrupts_it() {
    // As for the reference, a `---` under the last point opens its block even
    // after a log line; TAP at column 0 ends a block that never closed.
    let (r, _) = feed("1..1\nok 1\nsome log\n  ---\nnot ok 2\n");
    assert!(r.failing);
    assert_eq!(r.incomplete.as_deref(), Some("planned 1 tests, saw 2"));
}

#[test]
fn subtests_do_not_touch_the_plan() {
    let tap = "TAP version 14\n1..2\nok 1 - in the parent\n# Subtest: nested\n    1..3\n    ok 1 - inner\n    not ok 2 - inner fails\n      ---\n      message: inner\n      ...\n        # Subtest: deeper\n        1..1\n        ok 1\n    ok 3 - deeper\nnot ok 2 - nested\n  ---\n  message: 1 of 3 failed\n  ...\n";
    let (r, _) = feed(tap);
    assert_eq!(r.incomplete, None);
    assert_eq!(r.results, 2);
    assert_eq!(
        statuses(&r),
        [
            ("in the parent".to_string(), Status::Pass, String::new()),
            (
                "nested".to_string(),
                Status::Fail,
                "1 of 3 failed".to_string()
            ),
        ]
    );
    // A bare subtest (no comment) passing, with a passing parent.
    let (r, _) = feed("    ok 1 - sub\n    1..1\nok 1 - parent\n1..1\n");
    assert_eq!(
        (r.incomplete.as_deref(), r.failing, r.results),
        (None, false, 1)
    );
}

#[test]
fn escaped_hash_is_description() {
    let (r, _) = feed("1..2\nok 1 - issue \\#42 fixed\nnot ok 2 - C\\# parser \\\\ path\n");
    assert_eq!(r.table.checks[0].id, "issue #42 fixed");
    assert_eq!(r.table.checks[0].status, Status::Pass);
    assert_eq!(r.table.checks[1].id, "C# parser \\ path");
    assert!(r.failing);
}

#[test]
fn shared_descriptions_get_stable_unique_ids() {
    let (r, _) = feed("1..4\nok 1 - same\nnot ok 2 - same\nok 3 - same #2\nok 4\n");
    let ids: Vec<_> = r.table.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["same", "same #2", "same #2 #3", "test 4"]);
    assert_eq!(
        r.table.counts().fail,
        1,
        "the failure is not overwritten by a later pass"
    );
}

#[test]
fn pragmas_version_and_noise_are_ignored() {
    let (r, _) = feed(
        "TAP version 13\npragma +bail\n!!not TAP!!\n\n1..1\n# comment\nok 1\n   odd indent\npragma -bail\n",
    );
    assert_eq!(
        (r.incomplete.as_deref(), r.failing, r.results),
        (None, false, 1)
    );
}

#[test]
fn an_overwritten_failure_still_fails() {
    let (r, _) = feed_bytes(b"1..1\nnot ok 1 - x\rok 1 - x\n");
    assert!(r.failing);
    assert_eq!(
        r.table.checks[0].status,
        Status::Pass,
        "the table shows what the terminal showed"
    );
    let (r, _) = feed_bytes(b"1..1\n\x1b[32mok 1 - green\x1b[0m\n");
    assert_eq!((r.incomplete, r.results), (None, 1));
}

#[test]
fn finish_is_idempotent_and_lines_after_it_are_ignored() {
    let mut p = TapParser::new();
    p.line(b"1..1", &[]);
    p.finish();
    p.line(b"ok 1", &[]);
    p.finish();
    assert_eq!(
        p.report().incomplete.as_deref(),
        Some("planned 1 tests, saw 0")
    );
}

/// xorshift: deterministic noise without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn garbage_never_panics() {
    const PIECES: &[&str] = &[
        "ok",
        "not ok",
        " ",
        "  ",
        "    ",
        "#",
        "\\",
        "\\#",
        "1..",
        "1",
        "0",
        "99999999999999999999",
        "-",
        "---",
        "...",
        "Bail out!",
        "SKIP",
        "todo",
        "message:",
        "|",
        "'",
        "\"",
        "é",
        "\u{0}",
        "\t",
        "pragma +strict",
        "# Subtest: x",
        "\u{fffd}",
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..300 {
        let mut p = TapParser::new();
        for _ in 0..40 {
            let mut line = Vec::new();
            for _ in 0..next(&mut state) % 8 {
                let r = next(&mut state);
                if r.is_multiple_of(5) {
                    line.push((r >> 8) as u8); // any byte, invalid UTF-8 included
                } else {
                    line.extend_from_slice(PIECES[(r >> 8) as usize % PIECES.len()].as_bytes());
                }
            }
            let segs = if next(&mut state).is_multiple_of(7) {
                vec![line.clone(), b"not ok 1".to_vec()]
            } else {
                vec![]
            };
            p.line(&line, &segs);
        }
        p.finish();
        let r = p.report();
        assert!(r.results <= p.points());
        assert!(r.bailed.is_some() || r.incomplete.is_some() || p.doc.plan.is_some());
    }
}

#[test]
fn a_flood_of_points_stays_bounded() {
    let mut p = TapParser::new();
    p.line(b"1..2000", &[]);
    for i in 1..=2000 {
        p.line(format!("ok {i} - check {i}").as_bytes(), &[]);
    }
    p.finish();
    let r = p.report();
    assert_eq!((r.incomplete.as_deref(), r.results), (None, 2000));
    assert_eq!((r.table.checks.len(), r.table.dropped), (500, 1500));
}
