//! `pragma +strict` / `-strict` (TAP 14, "Pragmas"): while strict, a line
//! that is not TAP fails the stream, as it does for the reference parser.

use super::*;

fn strict_row(r: &SuiteReport) -> Option<&crate::suite::Check> {
    r.table
        .checks
        .iter()
        .find(|c| c.id.ends_with("pragma +strict"))
}

#[test]
fn non_tap_while_strict_fails_the_stream() {
    let (r, _) = feed(
        "TAP version 13\n1..1\npragma +strict\nNonsense!\npragma -strict\nDoesn't matter.\nok 1 All OK\n",
    );
    assert_eq!(
        (r.incomplete.as_deref(), r.failing, r.results),
        (None, true, 1)
    );
    let row = strict_row(&r).unwrap_or_else(|| panic!("{:?}", statuses(&r)));
    assert_eq!(row.status, Status::Fail);
    assert_eq!(
        row.detail,
        "line 4 is not TAP while `pragma +strict` is on: `Nonsense!`"
    );
    assert_eq!(r.table.counts().fail, 1, "one check, however many lines");
}

#[test]
fn strict_off_again_and_what_strict_accepts() {
    let (r, _) = feed("pragma +strict\npragma -strict\nnoise\n1..1\nok 1\n");
    assert_eq!((r.incomplete.as_deref(), r.failing), (None, false));
    // Comments, blank lines, unknown pragmas, YAML and subtests are TAP.
    let tap = "TAP version 14\npragma +strict\n1..2\n# a comment\n\npragma +custom_key\nok 1 - a\n  ---\n  got: 1\n  ...\n# Subtest: s\n    1..1\n    ok 1\nok 2 - s\n";
    let (r, _) = feed(tap);
    assert_eq!(
        (r.incomplete.as_deref(), r.failing),
        (None, false),
        "{:?}",
        statuses(&r)
    );
}

#[test]
fn strict_catches_what_the_reference_calls_invalid() {
    for tap in [
        // A version line before TAP 13, or after the plan.
        "pragma +strict\nTAP version 12\n1..1\nok 1\n",
        "pragma +strict\n1..1\nTAP version 14\nok 1\n",
        // A pragma at the parent's level while a subtest is open.
        "pragma +strict\n1..1\n    # Subtest\n    1..1\npragma +strict\n    ok\nok\n",
        // A YAML block that does not parse, or never closes.
        "pragma +strict\n1..2\nok 1\n  ---\n  a: [unclosed\n  ...\nok 2\n",
        "pragma +strict\n1..2\nok 1\n  ---\n  a: 1\nok 2\n",
        // Indented text that is neither YAML nor a subtest.
        "pragma +strict\n1..1\nok 1\n  stray\n",
        // A plan line with anything after it.
        "pragma +strict\n1..1 \nok 1\n1..1\n",
    ] {
        let (r, _) = feed(tap);
        assert!(r.failing, "{tap}");
        assert!(strict_row(&r).is_some(), "{tap}: {:?}", statuses(&r));
    }
}

/// A subtest's pragma is its own: the spec's example.
#[test]
fn a_subtest_strictness_is_its_own() {
    let (r, _) = feed(
        "1..1\n# Subtest: s\n    pragma +strict\n    1..1\n    garbage\n    ok 1\nok 1 - s\nnot TAP, and fine here\n",
    );
    assert!(r.failing, "the subtest's breach reaches its parent");
    assert!(
        r.table.checks.iter().any(|c| c.id == "s › pragma +strict"),
        "{:?}",
        statuses(&r)
    );
    // Strict at the top is inherited by a subtest.
    let (r, _) =
        feed("pragma +strict\n1..1\n# Subtest: s\n    1..1\n    garbage\n    ok 1\nok 1 - s\n");
    assert!(r.failing);
}
