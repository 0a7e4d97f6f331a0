use super::*;

/// A recorded message: its header says the tool, version, source, stream,
/// exit code and which rule must classify it (`# expect: rule R, scope S`).
pub(super) struct Fixture {
    name: String,
    exit: i32,
    on_stdout: bool,
    pub(super) rule: String,
    scope: Scope,
    body: String,
}

pub(super) fn fixtures() -> Vec<Fixture> {
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
}
