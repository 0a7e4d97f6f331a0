mod docs;
mod inline;
mod recorded;
mod user_rules;

use super::*;
use crate::capture::{Scanner, Segment};
use crate::suite::checks::ChecksParser;
use proptest::prelude::*;
use std::collections::BTreeSet;

const CHECK_LINE: &str =
    r"^(?P<id>C[0-9]+[a-z]?)\s+(?P<status>PASS|FAIL|WAIVED|SKIP)\b\s*(?P<detail>.*)$";

static BUILTIN: std::sync::LazyLock<RuleSet> = std::sync::LazyLock::new(RuleSet::builtin);

/// Scans `stdout`/`stderr` as one segment and classifies them in `scope`.
fn classify_in(
    rules: &RuleSet,
    scope: Scope,
    exit: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    stdout: &str,
    stderr: &str,
) -> Classification {
    let handle = RulesHandle::ready(rules.clone());
    let pattern = crate::config::compile_check_pattern(CHECK_LINE).unwrap();
    let sets = &handle.sets;
    let family = scope.family() as usize;
    let channel_only = family == 0;
    let mut out = Scanner::new(None, [sets[0].stdout.clone(), sets[1].stdout.clone()], 5)
        .with_parser(Box::new(ChecksParser::new(pattern.clone())));
    let mut err = Scanner::new(None, [sets[0].stderr.clone(), sets[1].stderr.clone()], 5)
        .with_stderr_checks(pattern);
    if channel_only {
        out = out.channel_only();
        err = err.channel_only();
    }
    out.feed(stdout.as_bytes());
    err.feed(stderr.as_bytes());
    let (out, err) = (out.finish(), err.finish());
    let suite = out.suite.clone().unwrap_or_default();
    let during = if channel_only {
        Segment::Before
    } else {
        Segment::Suite
    } as usize;
    let ev = Evidence {
        scope: Some(scope),
        exit_code: exit,
        signal,
        timed_out,
        stderr_hits: err.hits[during].clone(),
        stdout_hits: out.hits[during].clone(),
        evidence: suite.evidence(),
        failing_check: suite.failing,
        near_miss: suite.near_miss.is_some() || err.near_miss.is_some(),
        incomplete: suite.incomplete.is_some(),
        bailed: suite.bailed.is_some(),
        errored: suite.errored,
        format: Some(SuiteFormatName::Checks),
        ..Evidence::default()
    };
    if scope == Scope::Lost {
        rules.classify_lost(&ev)
    } else {
        rules.classify(&ev)
    }
}

fn channel(rules: &RuleSet, exit: i32, stderr: &str) -> Classification {
    classify_in(rules, Scope::Channel, Some(exit), None, false, "", stderr)
}

fn suite(rules: &RuleSet, exit: i32, stdout: &str, stderr: &str) -> Classification {
    classify_in(rules, Scope::Suite, Some(exit), None, false, stdout, stderr)
}

const PASSING: &str = "C1 PASS a\nC2 PASS b\nC9a WAIVED c\n";
const FAILING: &str = "C1 PASS a\nC2 FAIL b\n";

#[test]
fn builtin_rules_load_and_end_with_the_catch_all() {
    let rules = RuleSet::builtin();
    assert!(rules.rules.len() > 60);
    assert_eq!(rules.rules.last().unwrap().id, "unknown-exit");
    assert!(rules.rules.iter().all(|r| r.on != Scope::Any
        || matches!(
            r.id.as_str(),
            "own-timeout" | "killed-by-signal" | "unknown-exit"
        )));
}

#[test]
fn every_builtin_rule_is_exercised() {
    let rules = RuleSet::builtin();
    let mut covered: BTreeSet<String> = inline::INLINE_CASES
        .iter()
        .map(|c| c.0.to_string())
        .collect();
    covered.extend(recorded::fixtures().into_iter().map(|f| f.rule));
    // Rules exercised by the dedicated tests below.
    for r in [
        "own-timeout",
        "killed-by-signal",
        "suite-passed",
        "suite-no-evidence",
        "suite-failed",
        "suite-nonzero-with-evidence",
        "suite-failing-check",
        "suite-near-miss-nonzero",
        "suite-ambiguous-check-line",
        "remote-deadline",
        "channel-lost",
        "remote-state-error",
        "suite-bailed-out",
        "suite-errored",
        "suite-incomplete",
        "pytest-no-tests",
        "pytest-usage-error",
        "pytest-interrupted",
        "pytest-internal-error",
        // e2e_ssh::a_suite_that_forges_the_end_marker_gets_no_verdict
        "suite-forged-marker",
    ] {
        covered.insert(r.into());
    }
    let missing: Vec<&str> = rules
        .rules
        .iter()
        .map(|r| r.id.as_str())
        .filter(|id| !covered.contains(*id))
        .collect();
    assert!(missing.is_empty(), "rules without a test: {missing:?}");
}

#[test]
fn suite_outcomes() {
    let rules = RuleSet::builtin();
    assert_eq!(
        (
            suite(&rules, 0, PASSING, "").class,
            suite(&rules, 0, PASSING, "").rule.as_str()
        ),
        (Class::SuiteRan, "suite-passed")
    );
    assert_eq!(suite(&rules, 0, FAILING, "").rule, "suite-failing-check");
    assert_eq!(suite(&rules, 1, FAILING, "").rule, "suite-failing-check");
    assert_eq!(suite(&rules, 1, PASSING, "").rule, "suite-failed");
    assert_eq!(
        suite(&rules, 3, PASSING, "").rule,
        "suite-nonzero-with-evidence"
    );
    assert_eq!(suite(&rules, 0, "", "").rule, "suite-no-evidence");
    assert_eq!(suite(&rules, 0, "", "").class, Class::PermanentEnv);
    let timed = classify_in(&rules, Scope::Suite, None, Some(15), true, PASSING, "");
    assert_eq!(timed.rule, "own-timeout");
    let killed = classify_in(&rules, Scope::Suite, None, Some(9), false, PASSING, "");
    assert_eq!(killed.rule, "killed-by-signal");
    // A FAIL printed before an OOM kill is still a failure.
    assert_eq!(suite(&rules, 137, FAILING, "").rule, "suite-failing-check");
}

#[test]
fn near_misses_are_never_success() {
    let rules = RuleSet::builtin();
    for (out, err) in [
        ("C2 FAILED boom\n", ""),
        ("c2 fail\n", ""),
        (PASSING, "C2 FAIL on stderr\n"),
        ("  C2 FAIL indented\n", ""),
    ] {
        let c = suite(&rules, 0, out, err);
        assert_eq!(c.rule, "suite-ambiguous-check-line", "{out:?} {err:?}");
        let c = suite(&rules, 1, out, err);
        assert_eq!(c.class, Class::SuiteRan, "{out:?} {err:?}");
    }
    let mut ev = Evidence {
        scope: Some(Scope::Suite),
        exit_code: Some(2),
        near_miss: true,
        ..Evidence::default()
    };
    assert_eq!(rules.classify(&ev).rule, "suite-near-miss-nonzero");
    ev.exit_code = Some(0);
    assert_eq!(rules.classify(&ev).rule, "suite-ambiguous-check-line");
}

#[test]
fn format_facts_have_their_rules() {
    let rules = RuleSet::builtin();
    let ev = |f: &dyn Fn(&mut Evidence)| {
        let mut e = Evidence {
            scope: Some(Scope::Suite),
            exit_code: Some(0),
            ..Evidence::default()
        };
        f(&mut e);
        rules.classify(&e).rule
    };
    assert_eq!(ev(&|e| e.bailed = true), "suite-bailed-out");
    assert_eq!(
        ev(&|e| {
            e.bailed = true;
            e.failing_check = true
        }),
        "suite-failing-check"
    );
    assert_eq!(ev(&|e| e.errored = true), "suite-errored");
    assert_eq!(
        ev(&|e| {
            e.incomplete = true;
            e.evidence = true
        }),
        "suite-incomplete"
    );
    assert_eq!(ev(&|e| e.deadline = true), "remote-deadline");
    for (code, rule) in [
        (5, "pytest-no-tests"),
        (4, "pytest-usage-error"),
        (2, "pytest-interrupted"),
        (3, "pytest-internal-error"),
    ] {
        assert_eq!(
            ev(&|e| {
                e.exit_code = Some(code);
                e.format = Some(SuiteFormatName::Junit)
            }),
            rule
        );
    }
    // pytest's codes mean nothing for the other formats.
    assert_eq!(
        ev(&|e| {
            e.exit_code = Some(5);
            e.format = Some(SuiteFormatName::Checks)
        }),
        "unknown-exit"
    );
    let state = Evidence {
        scope: Some(Scope::Channel),
        exit_code: Some(70),
        state_error: true,
        ..Evidence::default()
    };
    assert_eq!(rules.classify(&state).rule, "remote-state-error");
}

/// Provenance first: a failing suite whose own stderr looks like a channel
/// error is FAILED, and a lost channel is never FAILED.
#[test]
fn channel_rules_never_judge_the_suites_lines() {
    let rules = RuleSet::builtin();
    for err in [
        "Error response from daemon: No such container: orch-db\n",
        "ssh: connect to host db-replica port 22: Connection refused\n",
        "Error response from daemon: Container 0123abcd is not running\n",
        "OCI runtime exec failed: exec failed: unable to start container process: exec: \"x\": executable file not found in $PATH: unknown\n",
        "Error from server (NotFound): pods \"db-0\" not found\n",
    ] {
        let c = suite(&rules, 1, FAILING, err);
        assert_eq!(
            (c.class, c.rule.as_str()),
            (Class::SuiteRan, "suite-failing-check"),
            "{err}"
        );
        let c = suite(&rules, 1, PASSING, err);
        assert_eq!(c.class, Class::SuiteRan, "{err}");
    }
    // Lost mid-suite: transient whatever was printed, named by the channel.
    let c = classify_in(&rules, Scope::Lost, Some(255), None, false, FAILING, "");
    assert_eq!(
        (c.class, c.rule.as_str()),
        (Class::TransientInfra, "channel-lost")
    );
    let c = classify_in(
        &rules,
        Scope::Lost,
        Some(255),
        None,
        false,
        FAILING,
        "Timeout, server 10.0.0.1 not responding.\n",
    );
    assert_eq!(
        (c.class, c.rule.as_str()),
        (Class::TransientInfra, "ssh-server-not-responding")
    );
    let c = classify_in(&rules, Scope::Lost, None, Some(15), true, FAILING, "");
    assert_eq!(c.rule, "own-timeout");
}

proptest! {
    /// Any parsed FAIL, however it is dressed up (colour codes, carriage
    /// returns, filler), is never SUCCESS.
    #[test]
    fn a_parsed_fail_is_never_success(
        lines in proptest::collection::vec(prop_oneof![
            Just("C1 PASS ok".to_string()),
            Just("filler text".to_string()),
            Just("\x1b[32mC3 PASS green\x1b[0m".to_string()),
            "[ -~]{0,30}",
        ], 0..20),
        at in 0usize..20,
        dress in prop_oneof![Just(""), Just("\x1b[31m"), Just("progress 10%\r"), Just("C4 PASS\r"), Just("\u{feff}")],
        exit in prop_oneof![Just(0), Just(1), Just(3)],
    ) {
        let rules = &*BUILTIN;
        let mut lines = lines;
        let fail = format!("{dress}C4 FAIL broken");
        lines.insert(at.min(lines.len()), fail);
        let stdout = lines.join("\n") + "\n";
        let c = suite(rules, exit, &stdout, "");
        prop_assert!(!(c.class == Class::SuiteRan && c.rule == "suite-passed"), "{:?}", stdout);
        prop_assert_eq!(c.class, Class::SuiteRan);
    }
}
