//! What the suite printed decides, and nothing it printed can fake a
//! verdict: near-miss FAIL lines, terminal tricks, infrastructure-looking
//! lines in the suite's own stderr, the check cap, control bytes.

use crate::common::*;

fn script(
    sb: &Sandbox,
    item: &std::path::Path,
    stdout: &str,
    stderr: &str,
    exit: i32,
) -> assert_cmd::assert::Assert {
    sb.run_local(item, "script")
        .env("STAGING_CHECK_STDOUT", stdout)
        .env("STAGING_CHECK_STDERR", stderr)
        .env("STAGING_CHECK_EXIT", exit.to_string())
        .assert()
}

#[test]
fn near_miss_fail_lines_are_never_success() {
    let sb = Sandbox::new();
    for (out, err) in [
        ("C1 PASS ok\\n\\x1b[31mC2 FAIL red\\x1b[0m\\n", ""),
        ("C1 PASS ok\\nprogress\\rC2 FAIL overwritten\\n", ""),
        ("C1 PASS ok\\nC2 PASS\\rC2 FAIL\\n", ""),
        ("\\xef\\xbb\\xbfC2 FAIL bom\\nC1 PASS ok\\n", ""),
        ("C1 PASS ok\\n  C2 FAIL indented\\n", ""),
        ("C1 PASS ok\\nC2 FAILED x\\n", ""),
        ("C1 PASS ok\\nC2 fail\\n", ""),
        ("C1 PASS ok\\n", "C2 FAIL on stderr\\n"),
    ] {
        let item = sb.work_item(&uid("ORCH"));
        let a = script(&sb, &item, out, err, 0);
        let code = a.get_output().status.code();
        assert_ne!(code, Some(0), "{out:?} {err:?} gave SUCCESS");
        let status = front(&item, "staging_status").unwrap();
        assert_ne!(status, "SUCCESS", "{out:?}");
        // Parsed FAILs are FAILED; lines that only look like one are HOLD.
        let rule = front(&item, "rule").unwrap();
        assert!(
            matches!(
                rule.as_str(),
                "suite-failing-check" | "suite-ambiguous-check-line"
            ),
            "{out:?} {err:?}: {rule}"
        );
    }
}

#[test]
fn a_failing_suite_whose_stderr_looks_like_infrastructure_is_failed() {
    let sb = Sandbox::new();
    for line in [
        "Error response from daemon: No such container: orch-db",
        "ssh: connect to host db-replica port 22: Connection refused",
        "Error response from daemon: Container 0123abcd is not running",
        "OCI runtime exec failed: exec failed: unable to start container process: exec: \\\"x\\\": executable file not found in $PATH: unknown",
    ] {
        let item = sb.work_item(&uid("ORCH"));
        script(
            &sb,
            &item,
            "C1 PASS ok\\nC4 FAIL db down\\n",
            &format!("{line}\\n"),
            1,
        )
        .code(1);
        assert_eq!(
            front(&item, "rule").as_deref(),
            Some("suite-failing-check"),
            "{line}"
        );
        assert_eq!(
            attempts(&item),
            1,
            "{line}: a failing suite is never re-run"
        );
    }
}

#[test]
fn the_check_table_cap_is_counted_not_silent() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let out = sb
        .run_local(&item, "many")
        .arg("--json")
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v = json(&out);
    assert_eq!(v["checks"]["total"], 500);
    assert_eq!(v["checks"]["dropped"], 500);
    assert_eq!(v["checks"]["dropped_fail"], 1);
    let summary = front(&item, "summary").unwrap();
    assert!(
        summary.contains("500 more beyond the 500-check table (1 failing)"),
        "{summary}"
    );
}

#[test]
fn control_bytes_never_reach_the_log_raw() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    script(
        &sb,
        &item,
        "C1 PASS nul\\x00 esc\\x1b[2J bell\\x07\\nstaging_status: FAILED\\n",
        "err\\x00\\x1b]0;t\\x07\\n",
        0,
    )
    .code(0);
    let raw = std::fs::read(item.join("15-staging-log.md")).unwrap();
    assert!(
        !raw.iter().any(|b| *b == 0 || *b == 0x1b || *b == 0x07),
        "control bytes in the log"
    );
    let text = String::from_utf8(raw).unwrap();
    assert!(text.contains("\\x00") && text.contains("\\x1b"), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("staging_status:"))
            .count(),
        1
    );
    // grep sees text, not "binary file matches".
    let grep = std::process::Command::new("grep")
        .arg("^staging_status:")
        .arg(item.join("15-staging-log.md"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&grep.stdout).trim(),
        "staging_status: SUCCESS"
    );
}

/// Every HOLD whose suite ended with passing checks (an ambiguous FAIL
/// line, a TAP plan not met, a bail-out) once read "N/N PASS" next to
/// HOLD: the summary says how far it got and that it is no verdict, and
/// names the failing checks it saw.
#[test]
fn a_hold_summary_never_reads_as_a_pass() {
    let sb = Sandbox::new();
    let hold = |item: &std::path::Path| {
        let summary = front(item, "summary").unwrap_or_default();
        assert_eq!(
            front(item, "staging_status").as_deref(),
            Some("HOLD"),
            "{}",
            log_text(item)
        );
        assert!(!summary.contains("PASS"), "{summary}");
        summary
    };
    let item = sb.work_item(&uid("ORCH"));
    script(
        &sb,
        &item,
        "C1 PASS ok\\nC2 PASS ok\\nC4 FAILED x\\n",
        "",
        0,
    )
    .code(75);
    assert_eq!(hold(&item), "2 checks passed, not enough for a verdict");

    let tap = |stdout: &str| {
        let item = sb.work_item(&uid("ORCH"));
        script(&sb, &item, stdout, "", 0).code(75);
        item
    };
    sb.write("stagerun.yaml", "suite_format: tap\n");
    let item = tap("1..3\\nok 1 - health\\nok 2 - db\\n");
    assert_eq!(hold(&item), "2 checks passed, not enough for a verdict");
    let item = tap("1..3\\nok 1 - health\\nBail out! db down\\n");
    assert_eq!(hold(&item), "1 check passed, not enough for a verdict");
}
