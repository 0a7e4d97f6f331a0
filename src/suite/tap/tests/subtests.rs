//! Subtests in both forms (indented, streamed; buffered in `{ … }`) and
//! what reaches the parent: the TAP 14 spec's own examples, and the
//! contradictions a producer can print.

use super::*;

fn row<'a>(r: &'a SuiteReport, id: &str) -> &'a crate::suite::Check {
    r.table
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no row `{id}` in {:?}", statuses(r)))
}

/// The spec's examples (TAP 14, "Subtests"): each is complete, and fails
/// exactly where its points say so.
#[test]
fn the_specs_subtest_examples() {
    let harness = "TAP version 14\n1..2\n\n# Subtest: foo.tap\n    1..2\n    ok 1\n    ok 2 - this passed\nok 1 - foo.tap\n\n# Subtest: bar.tap\n    ok 1 - object should be a Bar\n    not ok 2 - object.isBar should return true\n      ---\n      found: false\n      wanted: true\n      at:\n        file: test/bar.ts\n        line: 43\n        column: 8\n      ...\n    ok 3 - object can bar bears # TODO\n    1..3\nnot ok 2 - bar.tap\n  ---\n  fail: 1\n  todo: 1\n  ...\n";
    let commented = "TAP version 14\n\nok 1 - in the parent\n\n# Subtest: nested\n    1..1\n    ok 1 - in the subtest\nok 2 - nested\n\n# Subtest: empty\n    1..0\nok 3 - empty\n\n# Subtest\n    ok 1 - name is optional\n    1..1\nok 4\n\n1..4\n";
    let bare =
        "TAP version 14\n    ok 1 - subtest test point\n    1..1\nok 1 - subtest passing\n1..1\n";
    let nested = "TAP version 14\n        ok 1 - nested twice\n        1..1\n    ok 1 - nested parent\n    1..1\nok 1 - double nest passing\n1..1\n";
    let pragmas = "TAP version 14\npragma -strict\n# Subtest: child test\n    1..1\n    pragma +strict\n    ok 1\nok 1 - child test\n!!This is not valid TAP content!!\n1..1\n";
    for (tap, failing, results) in [
        (harness, true, 2),
        (commented, false, 4),
        (bare, false, 1),
        (nested, false, 1),
        (pragmas, false, 1),
    ] {
        let (r, _) = feed(tap);
        assert_eq!(
            (r.incomplete.as_deref(), r.failing, r.results),
            (None, failing, results),
            "{tap}"
        );
    }
    let (r, _) = feed(harness);
    assert_eq!(row(&r, "bar.tap").status, Status::Fail);
    assert_eq!(r.table.checks.len(), 2, "a consistent parent adds no rows");
}

/// The trust issue's item 11: a `not ok` inside an indented subtest whose
/// parent says `ok` fails the run, as a check of its own.
#[test]
fn a_failing_child_under_a_passing_parent_fails_the_run() {
    let tap = "TAP version 14\n1..2\n# Subtest: login\n    1..2\n    ok 1 - form renders\n    not ok 2 - password accepted\n      ---\n      message: 401 from /session\n      ...\nok 1 - login\nok 2 - logout\n";
    let (r, _) = feed(tap);
    assert_eq!((r.incomplete.as_deref(), r.failing), (None, true));
    assert_eq!(r.results, 2, "only top-level points are evidence");
    let child = row(&r, "login › password accepted");
    assert_eq!(
        (child.status, child.detail.as_str()),
        (Status::Fail, "401 from /session")
    );
    let parent = row(&r, "login");
    assert_eq!(
        parent.status,
        Status::Pass,
        "the parent row shows what it said"
    );
    assert!(
        parent.detail.contains("parent and child disagree")
            && parent.detail.contains("`password accepted`"),
        "{}",
        parent.detail
    );
    assert_eq!(r.table.counts().fail, 1);
}

#[test]
fn buffered_subtests_report_to_their_point() {
    for tap in [
        "TAP version 13\n1..1\nok 1 - my kids are fine {\n    1..1\n    not ok - no they aren't\n}\n",
        "TAP version 13\n1..1\nok 1 - my kids are fine\n  ---\n  some: diag\n  ...\n{\n    1..1\n    not ok - no they aren't\n}\n",
    ] {
        let (r, _) = feed(tap);
        assert_eq!((r.incomplete.as_deref(), r.failing), (None, true), "{tap}");
        assert_eq!(
            row(&r, "my kids are fine › no they aren't").status,
            Status::Fail
        );
    }
    let (r, _) = feed(
        "1..2\nok 1 - a {\n    ok 1\n    1..1\n}\nok 2 - b # time=1ms {\n    1..1\n    ok\n}\n",
    );
    assert_eq!(
        (r.incomplete.as_deref(), r.failing, r.results),
        (None, false, 2)
    );
    assert_eq!(statuses(&r)[1].0, "b");
    // An empty YAML block does not open a buffered subtest: `{` is then noise.
    let (r, _) = feed("1..1\nok 1 - x\n  ---\n  ...\n{\n    not ok 1\n    1..1\n}\n");
    assert!(
        r.failing,
        "the indented `not ok` still starts a (bare) subtest"
    );
}

#[test]
fn nested_failures_keep_their_path() {
    let tap = "1..1\n# Subtest: a\n    # Subtest: b\n        1..1\n        not ok 1 - deep\n    ok 1 - b\n    1..1\nok 1 - a\n";
    let (r, _) = feed(tap);
    assert!(r.failing);
    assert_eq!(row(&r, "a › b › deep").status, Status::Fail);
    // A consistent middle level (`not ok 1 - b`) is what the top sees.
    let tap = "1..1\n# Subtest: a\n    # Subtest: b\n        1..1\n        not ok 1 - deep\n    not ok 1 - b\n    1..1\nok 1 - a\n";
    let (r, _) = feed(tap);
    assert_eq!(row(&r, "a › b").status, Status::Fail);
}

/// TODO and SKIP excuse a point at its own level; a parent's TODO does not
/// excuse a failing child (the reference fails such a stream too).
#[test]
fn todo_and_skip_inside_and_above_a_subtest() {
    let (r, _) = feed(
        "1..1\n# Subtest: later\n    1..2\n    not ok 1 - a # TODO\n    not ok 2 - b # SKIP\nok 1 - later\n",
    );
    assert_eq!((r.incomplete.as_deref(), r.failing), (None, false));
    assert_eq!(r.table.checks.len(), 1);
    for parent in [
        "not ok 1 - later # TODO",
        "ok 1 - later # SKIP",
        "ok 1 - later # TODO",
    ] {
        let (r, _) = feed(&format!(
            "1..1\n# Subtest: later\n    1..1\n    not ok 1 - a\n{parent}\n"
        ));
        assert!(r.failing, "{parent}");
        assert!(row(&r, "later").detail.contains("disagree"), "{parent}");
    }
}

#[test]
fn a_subtest_that_does_not_finish_leaves_the_run_unproven() {
    let (r, _) = feed("1..1\n# Subtest: s\n    1..3\n    ok 1\n    ok 2\nok 1 - s\n");
    assert_eq!(
        (r.incomplete.as_deref(), r.failing),
        (Some("subtest `s`: planned 3 tests, saw 2"), false)
    );
    let (r, _) = feed("1..1\n# Subtest: s\n    ok 1\n    ok 2\nok 1 - s\n");
    assert_eq!(
        r.incomplete.as_deref(),
        Some("subtest `s`: no TAP plan (1..N) in the output (2 test points seen)")
    );
    // An empty subtest is empty, not unfinished (TAP 14 asks for `1..0`;
    // the reference takes nothing as nothing).
    let (r, _) = feed("TAP version 13\nok child {\n    \n}\n1..1\n");
    assert_eq!((r.incomplete.as_deref(), r.failing), (None, false));
}

/// Unterminated subtests are not TAP (TAP 14), unless what they showed
/// fails: then the run fails, or is unproven.
#[test]
fn a_subtest_no_point_closes() {
    let (r, _) = feed("TAP version 13\n1..1\nok\n    # Subtest: unfinished\n    1..1\n    ok\n");
    assert_eq!((r.incomplete.as_deref(), r.failing), (None, false));
    let (r, _) = feed("1..1\nok 1\n    1..2\n    not ok 1 - left open\n");
    assert!(r.failing);
    assert_eq!(row(&r, "subtest › left open").status, Status::Fail);
    assert_eq!(
        r.incomplete.as_deref(),
        Some("subtest `subtest`: planned 2 tests, saw 1 (and the output ends inside the subtest)")
    );
}

#[test]
fn noise_inside_and_beside_subtests() {
    // Log lines at the parent's level while a subtest is open, and an
    // indented version line in it, change nothing.
    let tap = "TAP version 13\n    # Subtest: t.js\ndebug test\n    TAP version 13\n    ok 1 Should output\n    1..1\nok 1 - t.js # time=537.383ms\n1..1\n";
    let (r, _) = feed(tap);
    assert_eq!(
        (r.incomplete.as_deref(), r.failing, r.results),
        (None, false, 1)
    );
    assert_eq!(r.table.checks[0].id, "t.js");
    // Text indented 5 spaces is not a subtest; inside YAML it is data.
    let (r, _) = feed("1..1\nok 1\n     not ok 99 this is not a child test\n");
    assert_eq!((r.incomplete.as_deref(), r.failing), (None, false));
    let (r, _) = feed("1..1\nok 1 - y\n  ---\n  log: |\n    not ok 7\n        not ok 8\n  ...\n");
    assert_eq!((r.incomplete.as_deref(), r.failing), (None, false));
}

#[test]
fn a_subtest_bail_out_stops_the_run_and_keeps_what_failed() {
    let (r, _) =
        feed("1..2\n# Subtest: s\n    not ok 1 - broke\n    Bail out! db gone\nok 1 - s\n");
    assert_eq!(r.bailed.as_deref(), Some("db gone"));
    assert!(r.failing, "a real failure came before the bail-out");
}

#[test]
fn nesting_is_bounded() {
    let mut tap = String::from("1..1\n");
    for depth in (1..=40).rev() {
        tap.push_str(&" ".repeat(depth * 4));
        tap.push_str("ok 1\n");
    }
    tap.push_str("ok 1\n");
    let (r, _) = feed(&tap);
    assert_eq!(
        r.incomplete.as_deref(),
        Some("subtests are nested deeper than 32 levels")
    );
}
