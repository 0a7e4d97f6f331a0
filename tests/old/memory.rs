//! Bounded memory whatever the suite prints. Alone in its own test binary:
//! it reads the peak RSS of this process's waited-for descendants.

mod common;
use common::*;

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
    let sb = Sandbox::new();
    let item = sb.work_item("ORCH-30");
    let mut cmd = sb.run_local(&item, "flood");
    cmd.env("STAGING_CHECK_FLOOD_MB", "200").arg("--quiet");
    cmd.timeout(std::time::Duration::from_secs(300))
        .assert()
        .code(0);
    assert_eq!(front(&item, "staging_status").as_deref(), Some("SUCCESS"));
    let log = log_text(&item);
    assert!(
        log.len() < 512 * 1024,
        "log is bounded: {} bytes",
        log.len()
    );
    let peak = children_max_rss_kib();
    // Both stagerun and the python suite are descendants; either buffering
    // the 200 MiB would show here.
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
}
