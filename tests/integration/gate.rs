//! `stagerun gate`: what the pipeline's gate reads, bounded and safe.

use crate::common::*;
use predicates::prelude::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn log(status: &str) -> String {
    format!(
        "---\nschema: stagerun.staging-log/2\nstaging_status: {status}\nwork_item: ORCH-1\n---\n\n# body\n"
    )
}

#[test]
fn gate_exits_with_the_verdicts_code() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    for (status, code) in [("SUCCESS", 0), ("FAILED", 1), ("HOLD", 75)] {
        std::fs::write(item.join("15-staging-log.md"), log(status)).unwrap();
        let out = stagerun(sb.path())
            .arg("gate")
            .arg(&item)
            .arg("--json")
            .assert()
            .code(code)
            .get_output()
            .clone();
        let v = json(&out.stdout);
        assert_schema_valid(&v);
        assert_eq!(v["verdict"], status);
    }
}

#[test]
fn unreadable_malformed_or_newer_logs_are_hold() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let out = stagerun(sb.path())
        .arg("gate")
        .arg(&item)
        .arg("--json")
        .assert()
        .code(75)
        .get_output()
        .clone();
    assert_schema_valid(&json(&out.stdout));
    for (text, needle) in [
        ("staging_status: SUCCESS\n", "front matter"),
        (
            "---\nschema: stagerun.staging-log/999\nstaging_status: SUCCESS\n---\n",
            "newer than this stagerun",
        ),
        (
            "---\nschema: stagerun.staging-log/2\nstaging_status: SUCCESS\nstaging_status: FAILED\n---\n",
            "exactly one",
        ),
    ] {
        std::fs::write(item.join("15-staging-log.md"), text).unwrap();
        stagerun(sb.path())
            .arg("gate")
            .arg(&item)
            .assert()
            .code(75)
            .stderr(predicate::str::contains(needle));
    }
    stagerun(sb.path())
        .arg("gate")
        .arg(sb.path().join("nope"))
        .assert()
        .code(2);
}

#[test]
fn gate_reads_only_a_bounded_front_matter_of_a_regular_file() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let path = item.join("15-staging-log.md");
    // A FIFO with no writer must not block, /dev/zero must not be read.
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap()
            .success()
    );
    let start = Instant::now();
    stagerun(sb.path())
        .arg("gate")
        .arg(&item)
        .timeout(Duration::from_secs(10))
        .assert()
        .code(75)
        .stderr(predicate::str::contains("not a regular file"));
    assert!(start.elapsed() < Duration::from_secs(3));
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
    stagerun(sb.path())
        .arg("gate")
        .arg(&item)
        .timeout(Duration::from_secs(10))
        .assert()
        .code(75);
    std::fs::remove_file(&path).unwrap();
    // A 300 MB log: the verdict is read from its head, in bounded memory.
    let f = std::fs::File::create(&path).unwrap();
    use std::io::Write;
    let mut w = std::io::BufWriter::new(f);
    w.write_all(log("FAILED").as_bytes()).unwrap();
    let line = [b'x'; 1023];
    for _ in 0..300 * 1024 {
        w.write_all(&line).unwrap();
        w.write_all(b"\n").unwrap();
    }
    drop(w);
    // Under a 200 MB address-space limit: reading it whole would fail.
    let out = std::process::Command::new("bash")
        .args(["-c", "ulimit -v 200000; exec \"$0\" gate \"$1\""])
        .arg(bin())
        .arg(&item)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn gate_during_a_run_is_hold_and_can_wait_for_it() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    std::fs::write(item.join("15-staging-log.md"), log("SUCCESS")).unwrap();
    let started = sb.path().join("started");
    let mut run = sb
        .run_local_std(&item, "script")
        .env("STAGING_CHECK_STARTED_FILE", &started)
        .env("STAGING_CHECK_STDOUT", "C1 PASS a\\nC2 FAIL b\\n")
        .env("STAGING_CHECK_SLEEP", "3")
        .env("STAGING_CHECK_EXIT", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&started, Duration::from_secs(20));
    // Not the previous SUCCESS: the run in progress.
    stagerun(sb.path())
        .arg("gate")
        .arg(&item)
        .assert()
        .code(75)
        .stderr(predicate::str::contains("run in progress"));
    // --wait waits for it and reads the new verdict.
    stagerun(sb.path())
        .arg("gate")
        .arg(&item)
        .arg("--wait=30")
        .assert()
        .code(1);
    let (code, _) = wait_exit(&mut run, Duration::from_secs(30));
    assert_eq!(code, 1);
}

#[test]
fn a_gate_never_makes_a_starting_run_busy() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    std::fs::write(item.join("15-staging-log.md"), log("SUCCESS")).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let dir = sb.path().to_path_buf();
    let item2 = item.clone();
    let hammer = std::thread::spawn(move || {
        while !s2.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = stagerun_std(&dir)
                .arg("gate")
                .arg(&item2)
                .stderr(Stdio::null())
                .output();
        }
    });
    for _ in 0..5 {
        sb.run_local(&item, "pass").assert().code(0);
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    hammer.join().unwrap();
}

/// A run killed outright (SIGKILL: a CI cancel without grace, the OOM
/// killer) cannot write anything at the end; the gate must not hand back
/// the previous verdict, with or without --wait.
#[test]
fn after_a_run_is_killed_the_gate_reads_hold_not_the_previous_verdict() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    sb.run_local(&item, "pass").assert().code(0);
    stagerun(sb.path()).arg("gate").arg(&item).assert().code(0);
    let started = sb.path().join("started");
    let mut run = sb
        .run_local_std(&item, "hang")
        .env("STAGING_CHECK_STARTED_FILE", &started)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&started, Duration::from_secs(20));
    let waiting = stagerun_std(sb.path())
        .arg("gate")
        .arg(&item)
        .arg("--wait=30")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    signal(run.id(), libc::SIGKILL);
    let _ = run.wait();
    let out = waiting.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(75), "gate --wait after the kill");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("without recording a verdict"), "{err}");
    stagerun(sb.path()).arg("gate").arg(&item).assert().code(75);
    // The next run that records a verdict clears it.
    sb.run_local(&item, "pass").assert().code(0);
    stagerun(sb.path()).arg("gate").arg(&item).assert().code(0);
}

/// `--wait` reads a duration as every other option does (`10m`, `90s`,
/// seconds); a bad one is a usage error naming what it expects.
#[test]
fn gate_wait_takes_a_duration_like_every_other_option() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    std::fs::write(item.join("15-staging-log.md"), log("FAILED")).unwrap();
    for wait in ["--wait=1m", "--wait=90s", "--wait=30", "--wait"] {
        stagerun(sb.path())
            .arg("gate")
            .arg(&item)
            .arg(wait)
            .assert()
            .code(1);
    }
    stagerun(sb.path())
        .arg("gate")
        .arg(&item)
        .arg("--wait=soon")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`soon` is not a duration (seconds, or like 90s, 15m, 1h30m)",
        ));
}
