//! The verdict is right whatever the reader, the disk or the work item's
//! folder does: stalled and closed output streams, failed log writes,
//! failed folder syncs, stale temp files, kill-switch, scope, writability.

use crate::common::*;
use predicates::prelude::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A suite that prints `C1 PASS`, 300 KB of filler, then `C4 FAIL` and
/// exits 0: only a scan of every byte sees the failure.
fn late_fail_script(sb: &Sandbox) -> std::path::PathBuf {
    sb.write(
        "late_fail.py",
        "import sys\nprint('C1 PASS early', flush=True)\nfor i in range(3000):\n    print('filler ' + 'x' * 93)\nprint('C4 FAIL late failure', flush=True)\n",
    )
}

fn bash_pipeline(
    sb: &Sandbox,
    item: &Path,
    script: &Path,
    stdout_to: &str,
    extra: &str,
) -> (i32, String) {
    let cmd = format!(
        "\"$0\" run \"$1\" --repo orch-core --transport local --no-push --check-script \"$2\" --retries 0 {extra} | {stdout_to}; echo \"rc=${{PIPESTATUS[0]}}\" >&2"
    );
    let run = Command::new("bash")
        .current_dir(sb.path())
        .args(["-c", &cmd])
        .arg(bin())
        .arg(item)
        .arg(script)
        .env_remove("CI")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr).into_owned();
    let rc = err
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("rc="))
        .and_then(|r| r.parse().ok())
        .unwrap_or(-1);
    (rc, err)
}

#[test]
fn a_stalled_or_slow_reader_never_turns_failed_into_success() {
    let sb = Sandbox::new();
    let script = late_fail_script(&sb);
    for (reader, extra) in [
        ("(sleep 6; cat >/dev/null)", ""),
        ("(sleep 6; cat >/dev/null)", "--json"),
        (
            "python3 -c 'import sys,time\nwhile sys.stdin.buffer.read(4096): time.sleep(0.005)'",
            "",
        ),
    ] {
        let item = sb.work_item(&uid("ORCH"));
        let (rc, err) = bash_pipeline(&sb, &item, &script, reader, extra);
        assert_eq!(rc, 1, "reader {reader} {extra}: {err}");
        assert_eq!(
            front(&item, "staging_status").as_deref(),
            Some("FAILED"),
            "{reader}"
        );
        assert!(log_text(&item).contains("| C4 | FAIL | late failure |"));
    }
}

/// stdout and stderr into one slow pipe (`2>&1 | (sleep; cat)`, a CI log
/// collector): the verdict is the last thing the reader sees, not buried
/// under megabytes of suite output queued before it.
#[test]
fn the_verdict_is_the_last_thing_a_slow_reader_sees() {
    let sb = Sandbox::new();
    let script = sb.write(
        "flood_then_fail.py",
        "import sys\nprint('C1 PASS early', flush=True)\nline = 'y' * 99 + '\\n'\nfor i in range(30000):\n    sys.stdout.write(line)\nprint('C2 FAIL late failure', flush=True)\nsys.exit(1)\n",
    );
    let item = sb.work_item(&uid("ORCH"));
    let out = Command::new("bash")
        .current_dir(sb.path())
        .args([
            "-c",
            "\"$0\" run \"$1\" --repo orch-core --transport local --no-push --check-script \"$2\" --retries 0 2>&1 | (sleep 6; cat)",
        ])
        .arg(bin())
        .arg(&item)
        .arg(&script)
        .env_remove("CI")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let verdict = lines
        .iter()
        .rposition(|l| l.starts_with("stagerun: ") && l.contains("FAILED (exit 1)"))
        .unwrap_or_else(|| {
            panic!(
                "no verdict line of its own in: {:?}",
                &lines[lines.len().saturating_sub(5)..]
            )
        });
    let after: Vec<&&str> = lines[verdict..]
        .iter()
        .filter(|l| l.contains("yyyy"))
        .collect();
    assert!(
        after.is_empty(),
        "suite output after the verdict: {after:?}"
    );
}

#[test]
fn a_closed_stdout_or_stderr_is_a_quiet_terminal_not_a_crash() {
    let sb = Sandbox::new();
    let script = late_fail_script(&sb);
    // stderr closed after its first line, heartbeats keep coming.
    let item = sb.work_item(&uid("ORCH"));
    let cmd = "\"$0\" run \"$1\" --repo orch-core --transport local --no-push --check-script \"$2\" --retries 0 2>&1 >/dev/null | head -1 >/dev/null; echo \"rc=${PIPESTATUS[0]}\"";
    let slow = sb.write("slow.py", "import time\nprint('C1 PASS a', flush=True)\ntime.sleep(2)\nprint('C2 FAIL b', flush=True)\n");
    let out = Command::new("bash")
        .current_dir(sb.path())
        .args(["-c", cmd])
        .arg(bin())
        .arg(&item)
        .arg(&slow)
        .env("ORCH_STAGING_RUNNER_HEARTBEAT", "0.3")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "rc=1");
    assert_eq!(front(&item, "staging_status").as_deref(), Some("FAILED"));
    // stdout closed at once, with --json.
    let item = sb.work_item(&uid("ORCH"));
    let (rc, err) = bash_pipeline(&sb, &item, &script, "head -c0", "--json");
    assert_eq!(rc, 1, "{err}");
    // Other commands with a closed stdout.
    for args in [
        &["man"][..],
        &["config"],
        &["completions", "bash"],
        &["gate", "--json"],
    ] {
        let mut argv: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        if args[0] == "gate" {
            argv.push(item.display().to_string());
        }
        let cmd = format!(
            "\"$0\" {} | head -c0; echo \"rc=${{PIPESTATUS[0]}}\"",
            argv.join(" ")
        );
        let out = Command::new("bash")
            .current_dir(sb.path())
            .args(["-c", &cmd])
            .arg(bin())
            .output()
            .unwrap();
        let rc = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let want = if args[0] == "gate" { "rc=1" } else { "rc=0" };
        assert_eq!(
            rc,
            want,
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
    // --dry-run into a closed pipe.
    let cmd = "\"$0\" run \"$1\" --repo r --transport local --dry-run | head -c0; echo \"rc=${PIPESTATUS[0]}\"";
    let out = Command::new("bash")
        .current_dir(sb.path())
        .args(["-c", cmd])
        .arg(bin())
        .arg(&item)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "rc=0");
}

#[test]
fn the_deadline_holds_when_stderr_is_never_read() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let script = sb.write(
        "noisy_hang.py",
        "import sys, time\nprint('C1 PASS a', flush=True)\nsys.stderr.write('e' * 4000000)\nsys.stderr.flush()\ntime.sleep(600)\n",
    );
    let mut child = sb
        .run_local_std(&item, "pass")
        .arg("--check-script")
        .arg(&script)
        .args(["--timeout", "3", "--retries", "0"])
        .env("ORCH_STAGING_RUNNER_HEARTBEAT", "0.2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    // Never read stderr. The verdict is recorded on time all the same.
    while !item.join("15-staging-log.md").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(12),
            "no verdict after {:?}",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(front(&item, "rule").as_deref(), Some("own-timeout"));
    // And the process ends, bounded, though nobody reads its stderr.
    let until = Instant::now() + Duration::from_secs(40);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(Instant::now() < until, "stagerun hung on an unread stderr");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `ulimit -f 1` makes the log write fail for real (EFBIG), even as root.
fn run_under_file_limit(
    sb: &Sandbox,
    item: &Path,
    scenario: &str,
    extra_env: &[(&str, &str)],
) -> std::process::Output {
    let script = "trap '' XFSZ; ulimit -f 1; exec \"$0\" run \"$1\" --repo orch-core --transport local --no-push --json --check-script \"$2\"";
    let mut cmd = Command::new("bash");
    cmd.current_dir(sb.path())
        .args(["-c", script])
        .arg(bin())
        .arg(item)
        .arg(check_script())
        .env("STAGING_CHECK_SCENARIO", scenario);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn a_verdict_that_cannot_be_recorded_is_hold_everywhere_and_gate_reads_hold() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    sb.run_local(&item, "pass").assert().code(0);
    let before = log_text(&item);
    let alert = sb.path().join("alert");
    let hook = format!(
        "echo \"$STAGERUN_VERDICT $STAGERUN_EXIT_CODE\" > {}",
        alert.display()
    );
    let out = run_under_file_limit(
        &sb,
        &item,
        "fail",
        &[("ORCH_STAGING_RUNNER_ALERT_COMMAND", &hook)],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}");
    let v = json(&out.stdout);
    assert_schema_valid(&v);
    assert_eq!(
        (v["verdict"].as_str(), v["exit_code"].as_u64()),
        (Some("HOLD"), Some(75))
    );
    assert_eq!(v["outcome"], "unrecorded");
    assert_eq!(v["log"]["status"], "failed");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("FAILED could not be recorded"),
        "{v}"
    );
    let last = err
        .lines()
        .rev()
        .find(|l| l.contains(" HOLD (exit 75)"))
        .unwrap_or_default();
    assert!(last.contains("unrecorded"), "{err}");
    // The old log is intact, but a marker beside it makes gate read HOLD.
    assert_eq!(log_text(&item), before, "the old log must be intact");
    assert!(item.join(".15-staging-log.md.unrecorded").exists());
    stagerun(sb.path())
        .arg("gate")
        .arg(&item)
        .assert()
        .code(75)
        .stderr(predicate::str::contains("could not record its verdict"));
    assert_eq!(
        std::fs::read_to_string(&alert).unwrap().trim(),
        "HOLD 75",
        "the alert ran"
    );
    // A later run that records its verdict clears the marker.
    sb.run_local(&item, "fail").assert().code(1);
    assert!(!item.join(".15-staging-log.md.unrecorded").exists());
    stagerun(sb.path()).arg("gate").arg(&item).assert().code(1);
}

#[test]
fn a_full_disk_keeps_the_previous_log_and_gate_reads_hold() {
    let sb = Sandbox::new();
    let mnt = sb.path().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=128k", "tmpfs"])
        .arg(&mnt)
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !require(
        "a tmpfs to fill (mount needs CAP_SYS_ADMIN)",
        if mounted {
            Ok(())
        } else {
            Err("mount -t tmpfs failed".into())
        },
    ) {
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(&mnt);
    let item = mnt.join(uid("ORCH"));
    std::fs::create_dir_all(&item).unwrap();
    let old = "---\nschema: stagerun.staging-log/1\nstaging_status: SUCCESS\n---\nold log\n";
    std::fs::write(item.join("15-staging-log.md"), old).unwrap();
    let filler = std::fs::File::create(mnt.join("filler")).unwrap();
    let mut w = std::io::BufWriter::new(filler);
    use std::io::Write;
    while w.write_all(&[0u8; 4096]).and_then(|_| w.flush()).is_ok() {}
    drop(w);
    // Refused before the suite runs: its verdict could not be recorded.
    sb.run_local(&item, "fail")
        .assert()
        .code(75)
        .stderr(predicate::str::contains(
            "no space left on device; nothing was run",
        ));
    assert_eq!(
        std::fs::read_to_string(item.join("15-staging-log.md")).unwrap(),
        old
    );
    // Not the stale SUCCESS: HOLD.
    stagerun(sb.path()).arg("gate").arg(&item).assert().code(75);
}

#[test]
fn a_failed_folder_sync_after_the_rename_is_said_as_it_is() {
    let sb = Sandbox::new();
    let cc = Command::new("cc").arg("--version").output();
    if !require(
        "a C compiler for the fsync fault shim",
        cc.map(|_| ()).map_err(|e| e.to_string()),
    ) {
        return;
    }
    let src = sb.write(
        "fail_dir_fsync.c",
        "#define _GNU_SOURCE\n#include <dlfcn.h>\n#include <errno.h>\n#include <sys/stat.h>\nint fsync(int fd) {\n  struct stat st;\n  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) { errno = EIO; return -1; }\n  int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, \"fsync\");\n  return real(fd);\n}\n",
    );
    let so = sb.path().join("fail_dir_fsync.so");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .arg("-ldl")
        .status()
        .unwrap();
    assert!(built.success());
    let item = sb.work_item(&uid("ORCH"));
    let out = sb
        .run_local(&item, "fail")
        .arg("--json")
        .env("LD_PRELOAD", &so)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let v = json(&out.stdout);
    assert_eq!(v["log"]["status"], "written");
    let detail = v["log"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("syncing its folder failed")
            && detail.contains("readers see the new verdict"),
        "{detail}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("syncing its folder failed"));
    assert_eq!(front(&item, "staging_status").as_deref(), Some("FAILED"));
}

#[test]
fn stale_temp_files_of_a_killed_writer_are_cleaned() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let stale = item.join(".15-staging-log.md.Ab12Cd.tmp");
    std::fs::write(&stale, "half a log").unwrap();
    let other = item.join("notes.tmp");
    std::fs::write(&other, "not ours").unwrap();
    sb.run_local(&item, "pass").assert().code(0);
    assert!(!stale.exists());
    assert!(other.exists(), "only our own temp files are removed");
}

#[test]
fn kill_switch_and_scope_skip_with_exit_3_whatever_else_is_broken() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    for (env, needle) in [
        (
            vec![("ORCH_STAGING_RUNNER_ENABLED", "false")],
            "runner disabled by environment variable ORCH_STAGING_RUNNER_ENABLED",
        ),
        (
            vec![
                ("ORCH_STAGING_RUNNER_ENABLED", "false"),
                ("ORCH_STAGING_RUNNER_TIMEOUT", "soon"),
            ],
            "runner disabled",
        ),
        (
            vec![("ORCH_STAGING_RUNNER_REPOS", "orch-web,orch-api")],
            "outside the runner's scope",
        ),
    ] {
        let mut cmd = sb.run_local(&item, "pass");
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let out = cmd.arg("--json").assert().code(3).get_output().clone();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        let v = json(&out.stdout);
        assert_schema_valid(&v);
        assert_eq!(v["verdict"], "SKIPPED");
        assert!(!item.join("15-staging-log.md").exists());
    }
    // A malformed stagerun.yaml that disables the runner: still 3.
    sb.write("stagerun.yaml", "enabled: false\ntimeout: [broken\n");
    sb.run_local(&item, "pass").assert().code(78);
    sb.write("stagerun.yaml", "enabled: false\ntimeout: soon\nnope: 1\n");
    sb.run_local(&item, "pass").assert().code(3);
    std::fs::remove_file(sb.path().join("stagerun.yaml")).unwrap();
    // An empty scope is a configuration error, not "skip everything".
    sb.run_local(&item, "pass")
        .env("ORCH_STAGING_RUNNER_REPOS", "")
        .assert()
        .code(78)
        .stderr(predicate::str::contains("ORCH_STAGING_RUNNER_REPOS"));
    // In scope: runs.
    sb.run_local(&item, "pass")
        .env("ORCH_STAGING_RUNNER_REPOS", "orch-web, orch-core")
        .assert()
        .code(0);
}

#[test]
fn a_log_path_that_cannot_be_replaced_is_refused_before_running() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    std::fs::create_dir(item.join("15-staging-log.md")).unwrap();
    let pids = sb.path().join("pids");
    sb.run_local(&item, "pass")
        .env("STAGING_CHECK_PID_FILE", &pids)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is a folder"));
    assert!(!pids.exists(), "the suite must not run");
}

#[test]
fn unwritable_or_unreadable_work_item_is_refused_before_running() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    let setpriv = Path::new("/usr/bin/setpriv").exists();
    if root
        && !require(
            "setpriv (to drop root for a permission test)",
            if setpriv {
                Ok(())
            } else {
                Err("no /usr/bin/setpriv".into())
            },
        )
    {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        sb.path().join("work-items"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let as_nobody = || {
        if root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(bin());
            c
        } else {
            Command::new(bin())
        }
    };
    for (mode, needle) in [(0o555, "is not writable"), (0o311, "is not readable")] {
        std::fs::set_permissions(&item, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = as_nobody()
            .current_dir("/")
            .arg("run")
            .arg(&item)
            .args([
                "--repo",
                "r",
                "--transport",
                "local",
                "--no-push",
                "--check-script",
                "/bin/true",
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "mode {mode:o}: {err}");
        assert!(err.contains(needle), "mode {mode:o}: {err}");
    }
    // A sticky folder where the log belongs to someone else: refused too.
    std::fs::set_permissions(&item, std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::write(item.join("15-staging-log.md"), "owned by root\n").unwrap();
    if root {
        let out = as_nobody()
            .current_dir("/")
            .arg("run")
            .arg(&item)
            .args([
                "--repo",
                "r",
                "--transport",
                "local",
                "--no-push",
                "--check-script",
                "/bin/true",
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("sticky folder"), "{err}");
    }
    std::fs::set_permissions(&item, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_symlinked_work_item_takes_its_id_from_the_path_as_given() {
    let sb = Sandbox::new();
    let target = sb.path().join("storage/some-folder");
    std::fs::create_dir_all(&target).unwrap();
    let id = uid("ORCH");
    let link = sb.path().join(&id);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    sb.run_local(&link, "pass").assert().code(0);
    assert_eq!(front(&link, "work_item").as_deref(), Some(id.as_str()));
    assert!(
        target.join("15-staging-log.md").exists(),
        "written through the resolved folder"
    );
}

#[test]
fn a_work_item_folder_swapped_during_the_run_is_not_written() {
    let sb = Sandbox::new();
    let item = sb.work_item(&uid("ORCH"));
    let started = sb.path().join("started");
    let mut child = sb
        .run_local_std(&item, "slow")
        .env("STAGING_CHECK_SLOW_SECONDS", "2")
        .env("STAGING_CHECK_STARTED_FILE", &started)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_file(&started, Duration::from_secs(20));
    let moved = item.with_extension("moved");
    std::fs::rename(&item, &moved).unwrap();
    std::fs::create_dir(&item).unwrap();
    let (code, err) = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("was replaced during the run"), "{err}");
    assert!(!moved.join("15-staging-log.md").exists());
    assert!(!item.join("15-staging-log.md").exists());
}

#[test]
fn ids_under_a_permissive_pattern_still_never_look_like_options() {
    let sb = Sandbox::new();
    // They match `.*`: the refusal gives the real reason, not "does not match".
    for (id, why) in [("-rf", "starts with `-`"), ("A-1 x", "contains ' '")] {
        let item = sb.work_item(id);
        sb.run_local(&item, "pass")
            .env("ORCH_STAGING_RUNNER_ID_PATTERN", ".*")
            .assert()
            .code(2)
            .stderr(predicate::str::contains(why))
            .stderr(predicate::str::contains("does not match").not());
    }
}

#[test]
fn a_panic_is_exit_70_with_the_suite_stopped_and_gate_on_hold() {
    let sb = Sandbox::new();
    let id = uid("ORCH");
    let item = sb.work_item(&id);
    sb.run_local(&item, "pass").assert().code(0);
    let pids = sb.path().join("pids");
    let out = sb
        .run_local(&item, "grandchild")
        .env("STAGING_CHECK_PID_FILE", &pids)
        .env("STAGERUN_FAULT", "attempt-started")
        .timeout(Duration::from_secs(30))
        .assert()
        .code(70)
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&out.stderr).contains("internal error: injected fault"));
    let left = none_left(&format!("--work-item {id}"), Duration::from_secs(5));
    assert!(left.is_empty(), "the suite survived the panic: {left:?}");
    for pid in std::fs::read_to_string(&pids)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u32>().ok())
    {
        assert!(!alive(pid), "suite pid {pid} survived the panic");
    }
    stagerun(sb.path()).arg("gate").arg(&item).assert().code(75);
}
