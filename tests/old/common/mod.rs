//! Helpers shared by the integration tests: they run the built binary.
#![allow(dead_code)]

use assert_cmd::Command;
use std::path::{Path, PathBuf};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn check_script() -> PathBuf {
    repo_root().join("fixtures/staging_check.py")
}

/// The binary with a clean environment: no ORCH_STAGING_RUNNER_* leaking in
/// from the developer's shell, and a working directory with no stagerun.yaml.
pub fn stagerun(cwd: &Path) -> Command {
    let mut cmd = assert_cmd::cargo_bin_cmd!("stagerun");
    for (k, _) in std::env::vars() {
        if k.starts_with("ORCH_STAGING_RUNNER_")
            || k.starts_with("STAGING_CHECK_")
            || k == "STAGERUN_CONFIG"
        {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(cwd);
    cmd
}

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    /// A work item folder `<sandbox>/work-items/<id>`.
    pub fn work_item(&self, id: &str) -> PathBuf {
        let p = self.dir.path().join("work-items").join(id);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("01-request.md"), "# request\n").unwrap();
        p
    }
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    /// `stagerun run ITEM --repo r --transport local` with the fixture suite.
    pub fn run_local(&self, item: &Path, scenario: &str) -> Command {
        let mut cmd = stagerun(self.path());
        cmd.args(["run"])
            .arg(item)
            .args(["--repo", "orch-core", "--transport", "local", "--no-push"])
            .env("ORCH_STAGING_RUNNER_CHECK_SCRIPT", check_script())
            .env("STAGING_CHECK_SCENARIO", scenario)
            .env("ORCH_STAGING_RUNNER_BACKOFF_BASE", "0.01")
            .env("ORCH_STAGING_RUNNER_GRACE", "1");
        cmd
    }
}

pub fn log_text(item: &Path) -> String {
    std::fs::read_to_string(item.join("15-staging-log.md")).unwrap_or_default()
}

/// The value of a top-level front-matter key, as written.
pub fn front(item: &Path, key: &str) -> Option<String> {
    let text = log_text(item);
    let body = text.strip_prefix("---\n")?;
    let end = body.find("\n---\n")?;
    body[..end].lines().find_map(|l| {
        l.strip_prefix(&format!("{key}: "))
            .map(|v| v.trim_matches('"').to_string())
    })
}

/// True while `pid` is a live (non-zombie) process.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next()
                .unwrap_or("");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// Live processes whose command line contains `needle`, from /proc: this
/// sees processes in containers too (they are in child pid namespaces).
pub fn processes_matching(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() || !alive(pid) {
            continue;
        }
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(format!("{pid} {cmdline}"));
        }
    }
    found
}

/// Skips (returns false) when a real component is missing, unless
/// STAGERUN_REQUIRE_E2E=1, where it fails the test.
pub fn require(what: &str, available: bool, why: &str) -> bool {
    if available {
        return true;
    }
    if std::env::var("STAGERUN_REQUIRE_E2E").as_deref() == Ok("1") {
        panic!("{what} is required (STAGERUN_REQUIRE_E2E=1) but unavailable: {why}");
    }
    eprintln!("SKIPPED: {what} unavailable: {why}");
    false
}

pub mod docker;
pub mod sshd;
