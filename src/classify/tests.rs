use super::*;
use crate::capture::LineScanner;
use crate::config::DEFAULT_CHECK_LINE_PATTERN;
use proptest::prelude::*;
use std::collections::BTreeSet;

static BUILTIN: std::sync::LazyLock<RuleSet> = std::sync::LazyLock::new(RuleSet::builtin);

fn check_re() -> Regex {
    Regex::new(DEFAULT_CHECK_LINE_PATTERN).unwrap()
}

fn scan(rules: &RuleSet, stdout: &str, stderr: &str) -> (LineScanner, LineScanner) {
    let (mut out, mut err) = scanners(&RulesHandle::ready(rules.clone()), &check_re(), 5);
    out.feed(stdout.as_bytes());
    out.finish();
    err.feed(stderr.as_bytes());
    err.finish();
    (out, err)
}

fn classify_text(
    rules: &RuleSet,
    exit: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    stdout: &str,
    stderr: &str,
) -> Classification {
    let (out, err) = scan(rules, stdout, stderr);
    rules.classify(&evidence(exit, signal, timed_out, &out, &err))
}

const PASSING: &str = "C1 PASS a\nC2 PASS b\nC9a WAIVED c\n";
const FAILING: &str = "C1 PASS a\nC2 FAIL b\n";

/// (rule, exit code, stderr) for messages not recorded under fixtures/stderr,
/// each the tool's own wording (OpenSSH sshconnect.c/ssh.c/clientloop.c,
/// docker CLI, coreutils timeout, CPython).
fn inline_cases() -> Vec<(&'static str, Option<i32>, &'static str)> {
    vec![
        (
            "ssh-connect-timed-out",
            Some(255),
            "ssh: connect to host staging-1 port 22: Connection timed out\n",
        ),
        (
            "ssh-no-route",
            Some(255),
            "ssh: connect to host 10.1.2.3 port 22: No route to host\n",
        ),
        (
            "ssh-no-route",
            Some(255),
            "ssh: connect to host 10.1.2.3 port 22: Network is unreachable\n",
        ),
        (
            "ssh-connection-reset",
            Some(255),
            "kex_exchange_identification: read: Connection reset by peer\nConnection reset by 10.1.2.3 port 22\n",
        ),
        (
            "ssh-kex-closed",
            Some(255),
            "kex_exchange_identification: Connection closed by remote host\nConnection closed by 10.1.2.3 port 22\n",
        ),
        (
            "ssh-closed-by-remote",
            Some(255),
            "Connection to staging-1 closed by remote host.\n",
        ),
        (
            "ssh-closed-by-remote",
            Some(255),
            "client_loop: send disconnect: Broken pipe\n",
        ),
        (
            "ssh-server-not-responding",
            Some(255),
            "Timeout, server staging-1 not responding.\n",
        ),
        (
            "ssh-resolve-temporary",
            Some(255),
            "ssh: Could not resolve hostname staging-1: Temporary failure in name resolution\n",
        ),
        (
            "ssh-host-key-verification-failed",
            Some(255),
            "Host key verification failed.\n",
        ),
        (
            "ssh-bad-config",
            Some(255),
            "/root/.ssh/config: line 3: Bad configuration option: proxyjumpp\n/root/.ssh/config: terminating, 1 bad configuration options\n",
        ),
        (
            "ssh-bad-permissions",
            Some(255),
            "Bad owner or permissions on /root/.ssh/config\n",
        ),
        (
            "docker-cli-missing",
            Some(127),
            "sh: 1: docker: not found\n",
        ),
        (
            "docker-cli-missing",
            Some(127),
            "zsh:1: command not found: docker\n",
        ),
        (
            "docker-no-such-container",
            Some(1),
            "Error: No such container: orch-core-app\n",
        ),
        (
            "docker-exec-failed",
            Some(126),
            "OCI runtime exec failed: exec failed: unable to start container process: error adding pid 4242 to cgroups: unknown\n",
        ),
        (
            "docker-cli-missing-local",
            Some(127),
            "stagerun: cannot run `docker`: No such file or directory\n",
        ),
        (
            "ssh-client-missing",
            Some(127),
            "stagerun: cannot run `ssh`: No such file or directory\n",
        ),
        (
            "spawn-failed",
            Some(127),
            "stagerun: cannot run `python3`: No such file or directory\n",
        ),
        ("remote-deadline", Some(124), ""),
        ("remote-killed-by-signal", Some(137), ""),
        ("suite-failing-check", Some(1), ""),
        ("unknown-exit", Some(3), "something odd\n"),
        ("unknown-exit", Some(1), ""),
    ]
}

#[test]
fn builtin_rules_load_and_ids_are_unique() {
    let rules = RuleSet::builtin();
    assert!(rules.rules.len() > 30);
    assert_eq!(rules.rules.last().unwrap().id, "unknown-exit");
}

/// Every file under fixtures/stderr is real output of the tool, recorded on
/// a real ssh server, docker engine or interpreter; its name is
/// `<rule>[--variant].<exit>[.stdout].txt`.
#[test]
fn recorded_messages_match_their_rules() {
    let rules = RuleSet::builtin();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stderr");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let parts: Vec<&str> = name.trim_end_matches(".txt").split('.').collect();
        let rule = parts[0].split("--").next().unwrap();
        let exit: i32 = parts[1].parse().unwrap();
        let on_stdout = parts.get(2) == Some(&"stdout");
        let text = std::fs::read_to_string(&path).unwrap();
        let (stdout, stderr) = if on_stdout {
            (text.as_str(), "")
        } else {
            ("", text.as_str())
        };
        let c = classify_text(&rules, Some(exit), None, false, stdout, stderr);
        assert_eq!(c.rule, rule, "{name}: {c:?}");
        seen += 1;
    }
    assert!(seen >= 15, "only {seen} recorded messages");
}

#[test]
fn inline_messages_match_their_rules() {
    let rules = RuleSet::builtin();
    for (rule, exit, stderr) in inline_cases() {
        let stdout = if rule == "suite-failing-check" {
            FAILING
        } else {
            ""
        };
        let c = classify_text(&rules, exit, None, false, stdout, stderr);
        assert_eq!(c.rule, rule, "{stderr:?}");
    }
}

#[test]
fn every_builtin_rule_is_exercised() {
    let rules = RuleSet::builtin();
    let mut covered: BTreeSet<String> = inline_cases().iter().map(|c| c.0.to_string()).collect();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stderr");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        covered.insert(
            name.split(['.', '-'])
                .next()
                .map(|_| {
                    name.split('.')
                        .next()
                        .unwrap()
                        .split("--")
                        .next()
                        .unwrap()
                        .to_string()
                })
                .unwrap(),
        );
    }
    // Rules exercised by the dedicated tests below.
    for r in [
        "own-timeout",
        "killed-by-signal",
        "suite-passed",
        "suite-no-evidence",
        "suite-failed",
        "suite-nonzero-with-evidence",
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
    let c = |exit, out: &str, err: &str| classify_text(&rules, Some(exit), None, false, out, err);
    assert_eq!(
        (c(0, PASSING, "").class, c(0, PASSING, "").rule.as_str()),
        (Class::SuiteRan, "suite-passed")
    );
    assert_eq!(c(0, FAILING, "").rule, "suite-failing-check");
    assert_eq!(c(1, FAILING, "").rule, "suite-failing-check");
    assert_eq!(c(1, PASSING, "").rule, "suite-failed");
    assert_eq!(c(3, PASSING, "").rule, "suite-nonzero-with-evidence");
    assert_eq!(c(0, "", "").rule, "suite-no-evidence");
    assert_eq!(c(0, "", "").class, Class::PermanentEnv);
    let timed = classify_text(&rules, None, Some(15), true, PASSING, "");
    assert_eq!(timed.rule, "own-timeout");
    let killed = classify_text(&rules, None, Some(9), false, PASSING, "");
    assert_eq!(killed.rule, "killed-by-signal");
}

#[test]
fn exit_one_collision_both_ways() {
    let rules = RuleSet::builtin();
    // docker exits 1 for these: infrastructure, never a suite failure.
    for err in [
        "Error response from daemon: No such container: app\n",
        "Error response from daemon: Container app is not running\n",
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n",
    ] {
        let c = classify_text(&rules, Some(1), None, false, "", err);
        assert_ne!(c.class, Class::SuiteRan, "{err}");
        // Even with check lines before the fault.
        let c = classify_text(&rules, Some(1), None, false, FAILING, err);
        assert_ne!(c.class, Class::SuiteRan, "{err}");
    }
    // The suite's own exit 1 and its own traceback are failures.
    assert_eq!(
        classify_text(&rules, Some(1), None, false, FAILING, "").class,
        Class::SuiteRan
    );
    let tb = "Traceback (most recent call last):\n  File \"staging_check.py\", line 3\nRuntimeError: boom\n";
    let c = classify_text(&rules, Some(1), None, false, "", tb);
    assert_eq!(
        (c.class, c.rule.as_str()),
        (Class::SuiteRan, "suite-traceback")
    );
    // A bare exit 1 with no sign the suite ran is not a failure.
    assert_eq!(
        classify_text(&rules, Some(1), None, false, "", "").class,
        Class::TransientInfra
    );
}

fn infra_signatures() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = inline_cases()
        .into_iter()
        .filter(|(r, _, e)| (r.starts_with("ssh-") || r.starts_with("docker-")) && !e.is_empty())
        .map(|c| c.2)
        .collect();
    v.extend([
        "root@10.0.0.1: Permission denied (publickey).\n",
        "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n",
        "ssh: connect to host 127.0.0.1 port 2222: Connection refused\n",
        "Error response from daemon: Container app is paused, unpause the container before exec\n",
        "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: x\n",
        "bash: line 1: docker: command not found\n",
    ]);
    v
}

proptest! {
    /// No input carrying an ssh/docker infrastructure signature is ever
    /// classified as the suite having run, whatever else it printed.
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
        let sig = sigs[sig_idx % sigs.len()];
        // The ssh/docker codes these messages come with; a docker-cli-missing
        // line only means that with 127.
        let exit = if sig.contains("docker: not found") || sig.contains("command not found") { 127 } else { exit };
        let stdout: String = checks.iter().map(|(n, s)| format!("C{n} {s} detail\n")).collect();
        let stderr = format!("{noise_before}\n{sig}{noise_after}\n");
        let c = classify_text(rules, Some(exit), None, false, &stdout, &stderr);
        prop_assert_ne!(c.class, Class::SuiteRan, "{} {:?}", exit, stderr);
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
        "rules:\n  - id: flaky-vpn\n    class: transient-infra\n    reason: vpn\n    when: { exit_in: [1], stderr: '^VPN down' }\n  - id: unknown-exit\n    class: permanent-env\n    reason: strict site policy\ndisable: [suite-no-evidence]\n",
    );
    let rules = RuleSet::load(Some(f.path())).unwrap();
    assert_eq!(rules.rules[0].id, "flaky-vpn");
    let c = classify_text(&rules, Some(1), None, false, FAILING, "VPN down\n");
    assert_eq!(c.rule, "flaky-vpn");
    let c = classify_text(&rules, Some(5), None, false, "", "");
    assert_eq!(
        (c.rule.as_str(), c.class),
        ("unknown-exit", Class::PermanentEnv)
    );
    assert!(!rules.rules.iter().any(|r| r.id == "suite-no-evidence"));
    // A bare list works too.
    let f = write_rules("- id: mine\n  class: suite-ran\n  reason: r\n  when: { exit_in: [42] }\n");
    let rules = RuleSet::load(Some(f.path())).unwrap();
    assert_eq!(
        classify_text(&rules, Some(42), None, false, "", "").rule,
        "mine"
    );
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
            "rule `r2`: unknown class `flaky`",
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
        ("rules: [\n", ":"),
    ] {
        let f = write_rules(text);
        let err = RuleSet::load(Some(f.path())).unwrap_err();
        let exit = err.downcast_ref::<Exit>().expect("an Exit error");
        assert_eq!(exit.code, crate::exit::CONFIG);
        assert!(exit.message.contains(needle), "{text:?} → {}", exit.message);
        assert!(!exit.message.contains('\n'), "{}", exit.message);
    }
}

#[test]
fn docs_list_every_builtin_rule() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/classification.md"),
    )
    .unwrap();
    for r in &RuleSet::builtin().rules {
        assert!(
            doc.contains(&format!("`{}`", r.id)),
            "docs/classification.md lacks rule {}",
            r.id
        );
    }
}

#[test]
fn every_builtin_rule_says_what_to_do_and_is_in_troubleshooting() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/troubleshooting.md"),
    )
    .unwrap();
    for r in &RuleSet::builtin().rules {
        assert!(
            r.fix.as_deref().is_some_and(|f| !f.is_empty()),
            "rule {} has no fix",
            r.id
        );
        assert!(
            doc.contains(&format!("| `{}` |", r.id)),
            "docs/troubleshooting.md lacks {}",
            r.id
        );
    }
}
