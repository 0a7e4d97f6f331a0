//! Bounded memory whatever the suite prints. A test binary of its own on
//! purpose: it reads the peak RSS of this process's waited-for children,
//! which other tests running in the same process would disturb.

use std::time::Duration;

fn children_max_rss_kib() -> i64 {
    // SAFETY: getrusage only fills the struct.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut u);
        u.ru_maxrss
    }
}

#[test]
fn two_hundred_mib_of_output_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let item = dir.path().join("ORCH-30");
    std::fs::create_dir_all(&item).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/staging_check.py");
    let mut cmd = assert_cmd::cargo_bin_cmd!("stagerun");
    cmd.current_dir(dir.path())
        .arg("run")
        .arg(&item)
        .args([
            "--repo",
            "r",
            "--transport",
            "local",
            "--no-push",
            "--quiet",
        ])
        .env("ORCH_STAGING_RUNNER_CHECK_SCRIPT", &script)
        .env("STAGING_CHECK_SCENARIO", "flood")
        .env("STAGING_CHECK_FLOOD_MB", "200")
        .timeout(Duration::from_secs(300))
        .assert()
        .code(0);
    let log = std::fs::read_to_string(item.join("15-staging-log.md")).unwrap();
    assert!(log.contains("staging_status: SUCCESS"));
    assert!(
        log.len() < 512 * 1024,
        "log is bounded: {} bytes",
        log.len()
    );
    let peak = children_max_rss_kib();
    // Both stagerun and the python suite are children; either buffering
    // the 200 MiB would show here.
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
}
