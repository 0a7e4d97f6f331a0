use super::*;

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
