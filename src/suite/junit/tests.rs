use super::*;
use std::path::Path;

const MAX: usize = 1 << 20;

fn parse(xml: &str) -> SuiteReport {
    parse_report(xml.as_bytes(), false, MAX)
}

fn fixture(name: &str, errors_fail: bool) -> SuiteReport {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("suites")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_report(&bytes, errors_fail, MAX)
}

fn table(r: &SuiteReport) -> Vec<(&str, Status, &str)> {
    r.table
        .checks
        .iter()
        .map(|c| (c.id.as_str(), c.status, c.detail.as_str()))
        .collect()
}

#[test]
fn all_pass() {
    let r = parse(
        r#"<?xml version="1.0"?>
            <testsuites><testsuite name="s" tests="2" failures="0" errors="0" skipped="0">
              <properties><property name="env" value="staging"/></properties>
              <testcase classname="pkg.Mod" name="test_a" time="0.1"><system-out>hi</system-out></testcase>
              <testcase name="bare"/>
            </testsuite></testsuites>"#,
    );
    assert_eq!(r.incomplete, None);
    assert_eq!((r.results, r.failing, r.errored), (2, false, false));
    assert_eq!(
        table(&r),
        [
            ("pkg.Mod.test_a", Status::Pass, ""),
            ("bare", Status::Pass, "")
        ]
    );
}

#[test]
fn failure_message_attribute_and_text() {
    let r = parse(
        r#"<testsuite tests="3" failures="3">
              <testcase classname="c" name="attr"><failure message="expected &lt;1&gt; &amp; got &quot;2&quot;" type="AssertionError">trace</failure></testcase>
              <testcase classname="c" name="text"><failure><![CDATA[
                first <line> & more
                second line]]></failure></testcase>
              <testcase classname="c" name="type"><failure type="Boom"/></testcase>
            </testsuite>"#,
    );
    assert_eq!(r.incomplete, None);
    assert!(r.failing);
    assert_eq!(
        table(&r),
        [
            ("c.attr", Status::Fail, "expected <1> & got \"2\""),
            ("c.text", Status::Fail, "first <line> & more"),
            ("c.type", Status::Fail, "Boom"),
        ]
    );
}

#[test]
fn error_under_both_policies() {
    let xml = r#"<testsuite tests="2" errors="1"><testcase name="ok"/><testcase classname="c" name="e"><error message="setup broke">tb</error></testcase></testsuite>"#;
    let hold = parse_report(xml.as_bytes(), false, MAX);
    assert_eq!((hold.failing, hold.errored, hold.results), (false, true, 2));
    assert_eq!(table(&hold)[1], ("c.e", Status::Error, "setup broke"));
    assert_eq!(hold.incomplete, None);
    let fail = parse_report(xml.as_bytes(), true, MAX);
    assert_eq!((fail.failing, fail.errored), (true, false));
    assert_eq!(table(&fail)[1], ("c.e", Status::Fail, "setup broke"));
}

#[test]
fn skipped_is_not_evidence() {
    let r = parse(
        r#"<testsuite tests="2" skipped="2"><testcase name="a"><skipped message="no db"/></testcase><testcase name="b"><skipped/></testcase></testsuite>"#,
    );
    assert_eq!(r.incomplete, None);
    assert_eq!(r.results, 0);
    assert!(!r.evidence());
    assert_eq!(
        table(&r),
        [("a", Status::Skip, "no db"), ("b", Status::Skip, "")]
    );
}

#[test]
fn nested_suites_add_up() {
    let xml = r#"<testsuites tests="3" failures="1">
            <testsuite name="outer" tests="3" failures="1">
              <testsuite name="inner" tests="2" failures="1">
                <testcase classname="i" name="a"/><testcase classname="i" name="b"><failure message="x"/></testcase>
              </testsuite>
              <testcase classname="o" name="c"/>
            </testsuite></testsuites>"#;
    let r = parse(xml);
    assert_eq!(r.incomplete, None);
    assert_eq!((r.results, r.failing), (3, true));
    let wrong = xml.replace(r#"name="outer" tests="3""#, r#"name="outer" tests="2""#);
    assert_eq!(
        parse(&wrong).incomplete.as_deref(),
        Some(r#"<testsuite name="outer">: report says tests=2, found tests=3"#)
    );
}

#[test]
fn count_mismatch() {
    let r = parse(
        r#"<testsuite name="s" tests="3" failures="1" errors="0" skipped="0"><testcase name="a"/><testcase name="b"/></testsuite>"#,
    );
    assert_eq!(
        r.incomplete.as_deref(),
        Some(r#"<testsuite name="s">: report says tests=3 failures=1, found tests=2 failures=0"#)
    );
    assert_eq!(r.results, 2, "what was read is still reported");
    let r = parse(r#"<testsuite tests="many"><testcase name="a"/></testsuite>"#);
    assert_eq!(
        r.incomplete.as_deref(),
        Some("<testsuite>: report says tests=many, found tests=1")
    );
}

#[test]
fn truncated() {
    let whole = r#"<testsuites><testsuite tests="2"><testcase name="a"/><testcase name="b"><failure message="x">long trace"#;
    let r = parse(whole);
    assert!(
        r.incomplete
            .as_deref()
            .is_some_and(|s| s.contains("truncated")),
        "{:?}",
        r.incomplete
    );
    assert!(r.failing, "the failure read before the cut still counts");
    for cut in [10, 30, 45, 60] {
        let r = parse(&whole[..cut]);
        assert!(r.incomplete.is_some(), "cut at {cut}");
    }
    let r = parse(r#"<testsuite tests="1"><testcase name="a"/></testsuite"#);
    assert!(r.incomplete.is_some());
    // A testcase cut off before any outcome never showed it passed.
    let r = parse(r#"<testsuite tests="1"><testcase name="a"><system-out>half"#);
    assert_eq!((r.results, r.table.checks.len()), (0, 0));
    let r = parse(r#"<testsuite><testcase name="a"><testcase name="b"/></testcase></testsuite>"#);
    assert_eq!(
        r.incomplete.as_deref(),
        Some("a <testcase> inside a <testcase>")
    );
}

#[test]
fn what_other_producers_write() {
    // A UTF-8 BOM (.NET tools), a namespace prefix, a DTD whose entities
    // are not expanded (no entity bombs), a comment and a PI.
    let r = parse(
        "\u{feff}<?xml version=\"1.0\"?><!-- c --><?pi x?><j:testsuite xmlns:j=\"urn:x\" tests=\"1\"><j:testcase name=\"a\"/></j:testsuite>",
    );
    assert_eq!((r.incomplete, r.results), (None, 1));
    let r = parse(
        r#"<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><testsuite tests="1" failures="1"><testcase name="t"><failure message="&b;">&b; body</failure></testcase></testsuite>"#,
    );
    assert_eq!((r.incomplete, r.failing), (None, true));
    assert_eq!(r.table.checks[0].detail, "&b;");
}

#[test]
fn empty_huge_and_not_xml() {
    assert_eq!(
        parse("").incomplete.as_deref(),
        Some("JUnit report is empty")
    );
    assert_eq!(
        parse(" \n\t").incomplete.as_deref(),
        Some("JUnit report is empty")
    );
    let big = format!(
        "<testsuite tests=\"1\"><testcase name=\"a\"/>{}</testsuite>",
        " ".repeat(2000)
    );
    assert_eq!(
        parse_report(big.as_bytes(), false, 1000)
            .incomplete
            .as_deref(),
        Some(
            format!(
                "JUnit report is {} bytes, over the 1000-byte limit",
                big.len()
            )
            .as_str()
        )
    );
    for junk in [
        "not xml at all",
        "{\"tests\": 3}",
        "<html><body>502 Bad Gateway</body></html>",
        "<testsuite><testcase name='a'></testsuite>",
        "<testsuite tests=\"1\"><testcase name=\"a\" name=\"b\"/></testsuite>",
        "<testsuite/><testsuite/>",
    ] {
        let r = parse(junk);
        assert!(r.incomplete.is_some(), "{junk}");
        assert!(!r.failing);
    }
    let r = parse_report(
        b"<testsuite tests=\"1\"><testcase name=\"\xff\xfe\"/></testsuite>",
        false,
        MAX,
    );
    assert!(r.incomplete.is_some(), "invalid UTF-8");
    let utf16: Vec<u8> = "<testsuite tests=\"1\"><testcase name=\"a\"/></testsuite>"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let r = parse_report(&utf16, false, MAX);
    assert_eq!(
        r.incomplete.as_deref(),
        Some("JUnit report has NUL bytes (UTF-16?); it must be UTF-8")
    );
}

#[test]
fn no_suite_or_no_cases() {
    assert_eq!(
        parse("<testsuites/>").incomplete.as_deref(),
        Some("no <testsuite> element in the report")
    );
    assert_eq!(
        parse(r#"<testsuite tests="0"/>"#).incomplete.as_deref(),
        Some("the report has no <testcase>: no test ran")
    );
}

#[test]
fn failure_and_teardown_error_of_one_test_keep_the_failure() {
    let r = parse(
        r#"<testsuite tests="2" failures="1" errors="1"><testcase classname="m" name="t"><failure message="assert 0"/></testcase><testcase classname="m" name="t"><error message="teardown"/></testcase></testsuite>"#,
    );
    assert_eq!(r.incomplete, None);
    assert_eq!(table(&r), [("m.t", Status::Fail, "assert 0")]);
    assert_eq!((r.failing, r.errored, r.results), (true, true, 2));
    assert_eq!(r.table.failed_seen.len(), 2);
}

#[test]
fn garbage_never_panics() {
    let base = br#"<?xml version="1.0"?><testsuites><testsuite name="s" tests="2" failures="1"><testcase classname="c" name="a"><failure message="m&amp;">t<![CDATA[x]]>&#10;</failure></testcase><testcase name="b"/></testsuite></testsuites>"#;
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..2000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut xml = base.to_vec();
        let at = (state as usize) % xml.len();
        match i % 3 {
            0 => xml.truncate(at),
            1 => xml[at] = (state >> 32) as u8,
            _ => xml.insert(at, b"<&>\"'/"[(state >> 40) as usize % 6]),
        }
        let r = parse_report(&xml, i % 2 == 0, MAX);
        assert!(r.incomplete.is_some() || r.results > 0);
    }
}

// Reports written by pytest 9.2.0 (fixtures/README.md).

#[test]
fn pytest_all_pass() {
    let r = fixture("pytest-pass.xml", false);
    assert_eq!(r.incomplete, None);
    assert_eq!((r.results, r.failing, r.errored), (3, false, false));
    assert_eq!(r.table.checks[2].id, "test_pass.TestGroup.test_in_class");
}

#[test]
fn pytest_one_failure() {
    let r = fixture("pytest-fail.xml", false);
    assert_eq!(r.incomplete, None);
    assert_eq!((r.results, r.failing), (3, true));
    assert_eq!(
        table(&r)[1],
        (
            "test_fail.test_compare_markup",
            Status::Fail,
            "AssertionError: rendered markup differs assert \"<a href='x'>&amp;</a>\" == '<b>' - <b> + <a href='x'>&amp;</a>"
        )
    );
}

#[test]
fn pytest_skip() {
    let r = fixture("pytest-skip.xml", false);
    assert_eq!(r.incomplete, None);
    assert_eq!((r.results, r.failing), (1, false));
    assert_eq!(
        table(&r)[1],
        (
            "test_skip.test_needs_database",
            Status::Skip,
            "no database on this host"
        )
    );
}

#[test]
fn pytest_setup_error() {
    let r = fixture("pytest-setup-error.xml", false);
    assert_eq!(r.incomplete, None);
    assert_eq!((r.results, r.failing, r.errored), (2, false, true));
    assert_eq!(
        table(&r)[0],
        (
            "test_setup_error.test_uses_database",
            Status::Error,
            "failed on setup with \"ConnectionError: cannot reach db:5432\""
        )
    );
    let r = fixture("pytest-setup-error.xml", true);
    assert_eq!((r.failing, r.errored), (true, false));
}

#[test]
fn pytest_collection_error() {
    let r = fixture("pytest-collect-error.xml", false);
    assert_eq!(r.incomplete, None);
    assert_eq!((r.results, r.failing, r.errored), (1, false, true));
    assert_eq!(
        table(&r),
        [("test_syntax", Status::Error, "collection failure")]
    );
    assert!(fixture("pytest-collect-error.xml", true).failing);
}

#[test]
fn pytest_no_tests_collected() {
    let r = fixture("pytest-no-tests.xml", false);
    assert_eq!(
        r.incomplete.as_deref(),
        Some("the report has no <testcase>: no test ran")
    );
    assert!(!r.evidence());
}

#[test]
fn pytest_teardown_errors() {
    let r = fixture("pytest-teardown-error.xml", false);
    assert_eq!(r.incomplete, None);
    assert_eq!((r.failing, r.errored), (true, true));
    let t = table(&r);
    assert_eq!(
        t[0].0,
        "test_teardown_error.test_passes_then_teardown_errors"
    );
    assert_eq!(t[0].1, Status::Error);
    assert_eq!(
        (t[1].0, t[1].1),
        (
            "test_teardown_error.test_fails_then_teardown_errors",
            Status::Fail
        )
    );
    assert_eq!(t.len(), 2);
}
