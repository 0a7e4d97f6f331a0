use super::*;

/// (line, directive, description, reason): the spec's directive examples
/// and the edge cases around them.
const DIRECTIVE_CASES: &[(&str, Directive, &str, &str)] = &[
    (
        "ok 1 - must be skipped test # SKIP",
        Directive::Skip,
        "must be skipped test",
        "",
    ),
    (
        "ok 2 - must not be skipped test \\# SKIP",
        Directive::None,
        "must not be skipped test # SKIP",
        "",
    ),
    (
        "ok 1 # skip this test is skipped",
        Directive::Skip,
        "",
        "this test is skipped",
    ),
    (
        "ok 2 not skipped: https://example.com/page.html#skip is a url",
        Directive::None,
        "not skipped: https://example.com/page.html#skip is a url",
        "",
    ),
    (
        "ok 3 - #SkIp case insensitive",
        Directive::Skip,
        "",
        "case insensitive",
    ),
    (
        "ok 1 - do it later # Skipped",
        Directive::Skip,
        "do it later",
        "",
    ),
    (
        "ok 2 - on windows # Skipped: only run on windows",
        Directive::Skip,
        "on windows",
        "only run on windows",
    ),
    ("ok 1 - hello # todo", Directive::Todo, "hello", ""),
    ("ok 2 - hello \\# todo", Directive::None, "hello # todo", ""),
    (
        "ok 3 - hello # todo hash \\# character",
        Directive::Todo,
        "hello",
        "hash # character",
    ),
    (
        "ok 4 - hello # todo hash # character",
        Directive::Todo,
        "hello",
        "hash # character",
    ),
    (
        "ok 5 - hello \\\\# todo hash \\# character",
        Directive::Todo,
        "hello \\",
        "hash # character",
    ),
    (
        "ok 7 - hello # description # todo",
        Directive::None,
        "hello # description # todo",
        "",
    ),
    (
        "ok 8 - hello \\\\\\\\\\\\\\# todo",
        Directive::None,
        "hello \\\\\\# todo",
        "",
    ),
    (
        "not ok 13 # TODO bend space and time",
        Directive::Todo,
        "",
        "bend space and time",
    ),
    (
        "not ok 14 - x # TODO: with colon",
        Directive::Todo,
        "x",
        "with colon",
    ),
    ("ok 9 - a # sk", Directive::None, "a # sk", ""),
];

#[test]
fn directive_rules_of_the_spec() {
    for &(line, directive, description, reason) in DIRECTIVE_CASES {
        let p = parse_point(line).unwrap_or_else(|| panic!("{line}"));
        assert_eq!(
            (p.directive, p.description.as_str(), p.reason.as_str()),
            (directive, description, reason),
            "{line}"
        );
    }
}

#[test]
fn what_is_and_is_not_a_point() {
    for line in ["ok", "not ok", "ok 1", "ok - x", "not ok 2 - y", "ok {"] {
        assert!(parse_point(line).is_some(), "{line}");
    }
    for line in [
        "ok\tx",
        "okay then",
        "ok: done",
        "Not ok 1",
        "NOT OK",
        "not ok1",
        " ok 1",
        "# ok 1",
        "nothing ok",
    ] {
        assert!(parse_point(line).is_none(), "{line}");
    }
    let p = parse_point("ok 12 - 3 apples").unwrap_or_else(|| panic!());
    assert_eq!((p.number, p.description.as_str()), (Some(12), "3 apples"));
    let p = parse_point("ok 1a").unwrap_or_else(|| panic!());
    assert_eq!((p.number, p.description.as_str()), (None, "1a"));
}

/// Plans, versions and pragmas are whole-line patterns, as TAP 14 and the
/// reference read them: anything more on the line makes it something else.
#[test]
fn a_line_that_is_not_exactly_a_plan_is_not_a_plan() {
    let plan = |line: &str| match kind(line) {
        Some(Kind::Plan { start, end, reason }) => Some((start, end, reason)),
        _ => None,
    };
    assert_eq!(plan("1..5"), Some((1, 5, String::new())));
    assert_eq!(plan("1..0 # skip it"), Some((1, 0, "skip it".into())));
    assert_eq!(
        plan("1..4 #   spaced \\# out"),
        Some((1, 4, "spaced # out".into()))
    );
    assert_eq!(plan("8..11"), Some((8, 11, String::new())));
    for line in [
        "1..5 ",
        "1..5\t",
        " 1..5",
        "1..5#x",
        "1..10 todo 4 10",
        "1..",
        "1..5 x",
        "1...5",
        "1..-1",
    ] {
        assert!(plan(line).is_none(), "{line:?}");
    }
}

#[test]
fn version_and_pragma_lines_are_exact() {
    for (line, want) in [
        ("TAP version 14", Some(14)),
        ("TAP version 13", Some(13)),
        ("tap Version 12", Some(12)),
        ("TAP version 14 ", None),
        ("TAP version", None),
        ("TAP version fourteen", None),
        (" TAP version 14", None),
    ] {
        let got = match kind(line) {
            Some(Kind::Version(v)) => Some(v),
            _ => None,
        };
        assert_eq!(got, want, "{line:?}");
    }
    let pragma = |line: &str| match kind(line) {
        Some(Kind::Pragma { on, key }) => Some((on, key)),
        _ => None,
    };
    assert_eq!(pragma("pragma +strict"), Some((true, "strict".into())));
    assert_eq!(pragma("pragma -strict"), Some((false, "strict".into())));
    assert_eq!(pragma("pragma +a_b-9"), Some((true, "a_b-9".into())));
    for line in [
        "pragma +strict ",
        "pragma strict",
        "pragma +not valid",
        "pragma -x # c",
    ] {
        assert_eq!(pragma(line), None, "{line:?}");
    }
}

#[test]
fn subtest_comments_bail_outs_and_comments() {
    assert!(matches!(kind("# Subtest: name"), Some(Kind::Subtest(n)) if n == "name"));
    assert!(matches!(kind("# Subtest"), Some(Kind::Subtest(n)) if n.is_empty()));
    assert!(matches!(kind("# Subtest:name"), Some(Kind::Comment)));
    assert!(matches!(kind("BAIL OUT! \\# why"), Some(Kind::BailOut(r)) if r == "# why"));
    assert!(matches!(kind("#"), Some(Kind::Comment)));
    assert!(kind("Bail out").is_none());
    assert_eq!(subtest_indent("    # Subtest: x").as_deref(), Some("x"));
    assert_eq!(subtest_indent("        # Subtest: x"), None);
}

/// `{` at the end opens a buffered subtest, before or after the directive;
/// the reference's `# time=…` directive is not part of the description.
#[test]
fn buffered_points_and_the_time_directive() {
    for (line, description, directive, buffered) in [
        ("ok 1 - nesting {", "nesting", Directive::None, true),
        (
            "ok 1 - first # time=12.34ms {",
            "first",
            Directive::None,
            true,
        ),
        (
            "ok 2 - second { # time=12.34ms",
            "second",
            Directive::None,
            true,
        ),
        ("ok 1 - tbd # TODO foo {", "tbd", Directive::Todo, true),
        ("ok 2 - skippy # skip {", "skippy", Directive::Skip, true),
        ("ok child {", "child", Directive::None, true),
        ("ok 1 - done # time=1.5s", "done", Directive::None, false),
        (
            "ok 1 - x # time=soon",
            "x # time=soon",
            Directive::None,
            false,
        ),
        (
            "ok 1 - {braces} inside",
            "{braces} inside",
            Directive::None,
            false,
        ),
    ] {
        let p = parse_point(line).unwrap_or_else(|| panic!("{line}"));
        assert_eq!(
            (p.description.as_str(), p.directive, p.buffered),
            (description, directive, buffered),
            "{line}"
        );
    }
    let p = parse_point("ok 1 - tbd # TODO foo {").unwrap_or_else(|| panic!());
    assert_eq!(p.reason, "foo");
}
