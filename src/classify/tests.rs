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

/// A recorded message: its header says the tool, version, source, stream,
/// exit code and which rule must classify it (`# expect: rule R, scope S`).
struct Fixture {
    name: String,
    exit: i32,
    on_stdout: bool,
    rule: String,
    scope: Scope,
    body: String,
}

fn fixtures() -> Vec<Fixture> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/messages");
    let mut all = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !name.ends_with(".txt") {
            continue;
        }
        let text = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        let mut header = Vec::new();
        let mut body = String::new();
        let mut in_header = true;
        for line in text.split_inclusive('\n') {
            if in_header && line.starts_with("# ") {
                header.push(line.trim_end().to_string());
            } else {
                in_header = false;
                body.push_str(line);
            }
        }
        let find = |key: &str| {
            header
                .iter()
                .find_map(|h| h.strip_prefix(&format!("# {key}: ")).map(str::to_string))
        };
        assert!(
            find("tool").is_some() && find("source").is_some(),
            "{name}: header lacks tool or source"
        );
        let stream_line = find("stream").unwrap_or_else(|| panic!("{name}: no stream line"));
        let exit: i32 = stream_line
            .split("# exit:")
            .nth(1)
            .and_then(|e| e.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name}: no exit code"));
        let expect = find("expect").unwrap_or_else(|| panic!("{name}: no expect line"));
        let (rule, scope) = expect
            .strip_prefix("rule ")
            .and_then(|r| r.split_once(", scope "))
            .unwrap_or_else(|| panic!("{name}: bad expect line {expect:?}"));
        all.push(Fixture {
            exit,
            on_stdout: stream_line.starts_with("stdout"),
            rule: rule.to_string(),
            scope: if scope == "suite" {
                Scope::Suite
            } else {
                Scope::Channel
            },
            body,
            name,
        });
    }
    all
}

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

/// Every recorded message, of every tool and version, classifies to the
/// rule its header names.
#[test]
fn recorded_messages_match_their_rules() {
    let rules = RuleSet::builtin();
    let all = fixtures();
    assert!(all.len() >= 100, "only {} recorded messages", all.len());
    for f in &all {
        let (out, err) = if f.on_stdout {
            (f.body.as_str(), "")
        } else {
            ("", f.body.as_str())
        };
        let c = classify_in(&rules, f.scope, Some(f.exit), None, false, out, err);
        assert_eq!(c.rule, f.rule, "{}: {c:?}", f.name);
    }
}

/// (rule, scope, exit, stderr) for messages without a recording.
fn inline_cases() -> Vec<(&'static str, Scope, i32, &'static str)> {
    use Scope::{Channel, Suite};
    vec![
        (
            "ssh-no-route",
            Channel,
            255,
            "ssh: connect to host 10.1.2.3 port 22: No route to host\n",
        ),
        (
            "ssh-no-route",
            Channel,
            255,
            "ssh: connect to host 10.1.2.3 port 22: Network is unreachable\n",
        ),
        (
            "ssh-connection-reset",
            Channel,
            255,
            "kex_exchange_identification: read: Connection reset by peer\nConnection reset by 10.1.2.3 port 22\n",
        ),
        (
            "ssh-kex-closed",
            Channel,
            255,
            "kex_exchange_identification: Connection closed by remote host\nConnection closed by 10.1.2.3 port 22\n",
        ),
        (
            "ssh-closed-by-remote",
            Channel,
            255,
            "client_loop: send disconnect: Broken pipe\n",
        ),
        (
            "ssh-resolve-temporary",
            Channel,
            255,
            "ssh: Could not resolve hostname staging-1: Temporary failure in name resolution\n",
        ),
        (
            "ssh-host-key-verification-failed",
            Channel,
            255,
            "Host key verification failed.\n",
        ),
        (
            "ssh-bad-config",
            Channel,
            255,
            "/root/.ssh/config: line 3: Bad configuration option: proxyjumpp\n/root/.ssh/config: terminating, 1 bad configuration options\n",
        ),
        (
            "docker-cli-missing",
            Channel,
            127,
            "zsh:1: command not found: docker\n",
        ),
        (
            "docker-cli-missing",
            Channel,
            127,
            "bash: line 1: docker: command not found\n",
        ),
        (
            "podman-cli-missing",
            Channel,
            127,
            "sh: 1: podman: not found\n",
        ),
        (
            "kubectl-cli-missing",
            Channel,
            127,
            "bash: line 1: kubectl: command not found\n",
        ),
        (
            "docker-exec-failed",
            Channel,
            126,
            "OCI runtime exec failed: exec failed: unable to start container process: error adding pid 4242 to cgroups: unknown\n",
        ),
        (
            "remote-shell-missing",
            Channel,
            126,
            "OCI runtime exec failed: exec failed: unable to start container process: exec: \"sh\": executable file not found in $PATH: unknown\n",
        ),
        (
            "docker-cli-missing-local",
            Channel,
            127,
            "stagerun: cannot run `docker`: No such file or directory\n",
        ),
        (
            "podman-cli-missing-local",
            Channel,
            127,
            "stagerun: cannot run `podman`: No such file or directory\n",
        ),
        (
            "kubectl-cli-missing-local",
            Channel,
            127,
            "stagerun: cannot run `kubectl`: No such file or directory\n",
        ),
        (
            "ssh-client-missing",
            Channel,
            127,
            "stagerun: cannot run `ssh`: No such file or directory\n",
        ),
        (
            "spawn-failed",
            Channel,
            127,
            "stagerun: cannot run `python3`: No such file or directory\n",
        ),
        ("remote-killed-by-signal", Suite, 137, ""),
        ("unknown-exit", Suite, 3, "something odd\n"),
        ("unknown-exit", Suite, 1, ""),
        ("unknown-exit", Channel, 255, ""),
    ]
}

#[test]
fn inline_messages_match_their_rules() {
    let rules = RuleSet::builtin();
    for (rule, scope, exit, stderr) in inline_cases() {
        let c = classify_in(&rules, scope, Some(exit), None, false, "", stderr);
        assert_eq!(c.rule, rule, "{stderr:?}");
    }
}

#[test]
fn every_builtin_rule_is_exercised() {
    let rules = RuleSet::builtin();
    let mut covered: BTreeSet<String> = inline_cases().iter().map(|c| c.0.to_string()).collect();
    covered.extend(fixtures().into_iter().map(|f| f.rule));
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

fn infra_signatures() -> Vec<String> {
    fixtures()
        .into_iter()
        .filter(|f| f.scope == Scope::Channel && f.rule != "unknown-exit" && f.exit != 0)
        .map(|f| f.body)
        .collect()
}

proptest! {
    /// No recorded infrastructure message, in channel scope, is ever
    /// classified as the suite having run, whatever else was printed.
    #[test]
    fn infra_signature_is_never_suite_ran(
        sig_idx in 0usize..1000,
        exit in prop_oneof![Just(1), Just(2), Just(125), Just(126), Just(127), Just(255), 1i32..256],
        checks in proptest::collection::vec((1u8..12, prop_oneof![Just("PASS"), Just("FAIL"), Just("WAIVED"), Just("SKIP")]), 0..6),
        noise_before in "[ -~]{0,40}",
        noise_after in "[ -~]{0,40}",
    ) {
        let rules = &*BUILTIN;
        let sigs = infra_signatures();
        let sig = &sigs[sig_idx % sigs.len()];
        let stdout: String = checks.iter().map(|(n, s)| format!("C{n} {s} detail\n")).collect();
        let stderr = format!("{noise_before}\n{sig}{noise_after}\n");
        let c = classify_in(rules, Scope::Channel, Some(exit), None, false, &stdout, &stderr);
        prop_assert_ne!(c.class, Class::SuiteRan, "{} {:?}", exit, stderr);
    }

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

fn write_rules(text: &str) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn user_rules_come_first_and_can_override_or_disable() {
    let f = write_rules(
        "rules:\n  - id: flaky-vpn\n    class: transient-infra\n    on: channel\n    reason: vpn\n    when: { exit_in: [1], stderr: '^VPN down' }\n  - id: unknown-exit\n    class: permanent-env\n    reason: strict site policy\ndisable: [suite-no-evidence]\n",
    );
    let rules = RuleSet::load(Some(f.path())).unwrap();
    assert_eq!(rules.rules[0].id, "flaky-vpn");
    assert_eq!(channel(&rules, 1, "VPN down\n").rule, "flaky-vpn");
    // A channel rule never judges the suite's own lines.
    assert_eq!(
        suite(&rules, 1, FAILING, "VPN down\n").rule,
        "suite-failing-check"
    );
    let c = suite(&rules, 5, "", "");
    assert_eq!(
        (c.rule.as_str(), c.class),
        ("unknown-exit", Class::PermanentEnv)
    );
    assert!(!rules.rules.iter().any(|r| r.id == "suite-no-evidence"));
    // A bare list works too; a rule without `on` applies everywhere.
    let f = write_rules("- id: mine\n  class: suite-ran\n  reason: r\n  when: { exit_in: [42] }\n");
    let rules = RuleSet::load(Some(f.path())).unwrap();
    assert_eq!(suite(&rules, 42, "", "").rule, "mine");
}

#[test]
fn bad_rules_files_are_config_errors_naming_the_rule() {
    for (text, needle) in [
        (
            "- id: r1\n  class: suite-ran\n  reason: x\n  when: { stderr: '([' }\n",
            "rule `r1`: invalid stderr regex",
        ),
        (
            "- id: r2\n  class: flaky\n  reason: x\n",
            "unknown variant `flaky`",
        ),
        (
            "- id: r3\n  class: suite-ran\n  reason: x\n  when: { exit_code: 1 }\n",
            "unknown field",
        ),
        (
            "- id: r4\n  class: suite-ran\n  reason: x\n- id: r4\n  class: suite-ran\n  reason: y\n",
            "rule `r4`: duplicate",
        ),
        ("disable: [no-such-rule]\n", "unknown rule `no-such-rule`"),
        (
            "- id: r5\n  class: suite-ran\n  on: everywhere\n  reason: x\n",
            "unknown variant `everywhere`",
        ),
        ("rules: [\n", ":"),
    ] {
        let f = write_rules(text);
        let err = RuleSet::load(Some(f.path())).unwrap_err();
        assert_eq!(err.code(), crate::exit::CONFIG);
        let msg = err.to_string();
        assert!(msg.contains(needle), "{text:?} → {msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The generated part of a doc, between `<!-- NAME:begin -->` and
/// `<!-- NAME:end -->`; STAGERUN_UPDATE_DOCS=1 rewrites it.
fn check_generated(file: &str, name: &str, body: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let (begin, end) = (
        format!("<!-- {name}:begin -->\n"),
        format!("<!-- {name}:end -->"),
    );
    let (Some(a), Some(b)) = (text.find(&begin), text.find(&end)) else {
        panic!("docs/{file} lacks the {begin:?} … {end:?} markers");
    };
    let current = &text[a + begin.len()..b];
    if current != body && std::env::var("STAGERUN_UPDATE_DOCS").as_deref() == Ok("1") {
        let updated = format!("{}{begin}{body}{}", &text[..a], &text[b..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        current == body,
        "docs/{file} is stale: STAGERUN_UPDATE_DOCS=1 cargo test --lib classify"
    );
}

#[test]
fn docs_list_every_builtin_rule_with_its_scope_and_versions() {
    let mut body = String::from(
        "| # | rule | applies | class | when | why | checked against |\n|---|---|---|---|---|---|---|\n",
    );
    for (i, r) in RuleSet::builtin().rules.iter().enumerate() {
        let when = serde_json::to_string(&r.when).unwrap_or_default();
        body.push_str(&format!(
            "| {} | `{}` | {} | {} | `{}` | {} | {} |\n",
            i + 1,
            r.id,
            r.on.as_str(),
            r.class.as_str(),
            cell(&when),
            cell(&r.reason),
            cell(&r.checked.join(", "))
        ));
    }
    check_generated("classification.md", "rules", &body);
}

#[test]
fn every_builtin_rule_says_what_to_do_and_is_in_troubleshooting() {
    let mut body =
        String::from("| rule | class | what it means | what to do |\n|---|---|---|---|\n");
    for r in &RuleSet::builtin().rules {
        assert!(
            r.fix.as_deref().is_some_and(|f| !f.is_empty()),
            "rule {} has no fix",
            r.id
        );
        body.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            r.id,
            r.class.as_str(),
            cell(&r.reason),
            cell(r.fix.as_deref().unwrap_or(""))
        ));
    }
    check_generated("troubleshooting.md", "fixes", &body);
}
