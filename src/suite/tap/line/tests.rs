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
    for line in ["ok", "not ok", "ok 1", "ok - x", "not ok 2 - y", "ok\tx"] {
        assert!(parse_point(line).is_some(), "{line}");
    }
    for line in [
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
