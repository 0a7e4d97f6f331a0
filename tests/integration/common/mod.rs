//! Helpers shared by the integration tests: they run the built binary.
#![allow(dead_code)]

pub mod docker;
pub mod elf;
pub mod podman;
pub mod sshd;

use assert_cmd::Command;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn check_script() -> PathBuf {
    repo_root().join("fixtures/staging_check.py")
}

pub fn bin() -> &'static Path {
    assert_cmd::cargo::cargo_bin!("stagerun")
}

/// A work-item id no other test run shares, even on a shared Docker engine:
/// `ORCH` + this run's random tag + a counter (`ORCH3F9A21-7`).
pub fn uid(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static RUN: OnceLock<String> = OnceLock::new();
    static N: AtomicU32 = AtomicU32::new(1);
    let tag = RUN.get_or_init(|| format!("{:06X}", fastrand_u32() & 0xFF_FFFF));
    format!("{prefix}{tag}-{}", N.fetch_add(1, Ordering::SeqCst))
}

fn fastrand_u32() -> u32 {
    let mut b = [0u8; 4];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .unwrap();
    u32::from_le_bytes(b)
}

/// The binary with a clean environment: no ORCH_STAGING_RUNNER_* or CI
/// variables leaking in from the developer's shell or the CI job, and a
/// working directory with no stagerun.yaml.
pub fn stagerun(cwd: &Path) -> Command {
    let mut cmd = assert_cmd::cargo_bin_cmd!("stagerun");
    for (k, _) in std::env::vars() {
        if k.starts_with("ORCH_STAGING_RUNNER_")
            || k.starts_with("STAGING_CHECK_")
            || k.starts_with("GITHUB_")
            || k.starts_with("GITLAB_")
            || k.starts_with("CI_")
            || k == "CI"
            || k == "STAGERUN_CONFIG"
        {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(cwd);
    cmd
}

/// The same as a std Command, for tests that signal or stall it.
pub fn stagerun_std(cwd: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("ORCH_STAGING_RUNNER_")
            || k.starts_with("STAGING_CHECK_")
            || k.starts_with("GITHUB_")
            || k.starts_with("GITLAB_")
            || k == "CI"
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

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::Builder::new()
                .prefix("stagerun-test")
                .tempdir()
                .unwrap(),
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
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }
    /// `stagerun run ITEM --repo orch-core --transport local` with the fixture suite.
    pub fn run_local(&self, item: &Path, scenario: &str) -> Command {
        let mut cmd = stagerun(self.path());
        cmd.args(["run"])
            .arg(item)
            .args(["--repo", "orch-core", "--transport", "local", "--no-push"])
            .env("ORCH_STAGING_RUNNER_CHECK_SCRIPT", check_script())
            .env("STAGING_CHECK_SCENARIO", scenario)
            .env("ORCH_STAGING_RUNNER_BACKOFF_BASE", "0.01")
            .env("ORCH_STAGING_RUNNER_GRACE", "1")
            .timeout(Duration::from_secs(120));
        cmd
    }
    /// The same, as a std Command (for signals, stalled readers, pipes).
    pub fn run_local_std(&self, item: &Path, scenario: &str) -> std::process::Command {
        let mut cmd = stagerun_std(self.path());
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

/// Attempts recorded in the log.
pub fn attempts(item: &Path) -> usize {
    log_text(item).matches("\n- attempt:").count()
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

/// Waits until no process matches `needle` (or the limit passes).
pub fn none_left(needle: &str, limit: Duration) -> Vec<String> {
    let until = Instant::now() + limit;
    loop {
        let left = processes_matching(needle);
        if left.is_empty() || Instant::now() >= until {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Skips (returns false) when a real component is missing, unless
/// STAGERUN_REQUIRE_E2E=1, where it fails the test. A skip writes one line
/// `SKIPPED: WHAT unavailable (TEST): WHY` straight to stderr (libtest
/// captures only the print macros, so the line shows in plain `cargo test`
/// output) and appends it to $STAGERUN_SKIP_LOG when set: `make test`
/// counts them there and lists them after cargo's summary
/// (scripts/test-skips.sh).
pub fn require(what: &str, available: Result<(), String>) -> bool {
    match available {
        Ok(()) => true,
        Err(why) => {
            if std::env::var("STAGERUN_REQUIRE_E2E").as_deref() == Ok("1") {
                panic!("{what} is required (STAGERUN_REQUIRE_E2E=1) but unavailable: {why}");
            }
            let test = std::thread::current()
                .name()
                .unwrap_or("a test")
                .to_string();
            let line = format!("SKIPPED: {what} unavailable ({test}): {why}\n");
            use std::io::Write;
            let _ = std::io::stderr().write_all(line.as_bytes());
            if let Some(log) = std::env::var_os("STAGERUN_SKIP_LOG") {
                // One write per line: tests skip from parallel threads.
                let _ = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .and_then(|mut f| f.write_all(line.as_bytes()));
            }
            false
        }
    }
}

pub fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "not one JSON object ({e}): {}",
            String::from_utf8_lossy(bytes)
        )
    })
}

/// Validates a `--json` object against docs/result.schema.json with a real
/// JSON Schema validator.
pub fn assert_schema_valid(v: &serde_json::Value) {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| {
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo_root().join("docs/result.schema.json")).unwrap(),
        )
        .unwrap();
        jsonschema::validator_for(&schema).expect("a valid schema")
    });
    let errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{v}");
}

/// Validates an object against a generated schema in the repository
/// (docs/history.schema.json, docs/status.schema.json).
pub fn assert_valid_against(v: &serde_json::Value, schema_file: &str) {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join(schema_file)).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{schema_file}: {errors:?}\n{v}");
}

pub fn signal(pid: u32, sig: i32) {
    // SAFETY: sending a signal to a process we started.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// Waits for a child to exit; its code and stderr.
pub fn wait_exit(child: &mut std::process::Child, limit: Duration) -> (i32, String) {
    let until = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            use std::os::unix::process::ExitStatusExt;
            return (
                status.code().unwrap_or(128 + status.signal().unwrap_or(0)),
                err,
            );
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("stagerun did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Pids the fixture suite wrote to STAGING_CHECK_PID_FILE, once `n` are there.
pub fn wait_for_pids(file: &Path, n: usize, limit: Duration) -> Vec<u32> {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let pids: Vec<u32> = text
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
            .collect();
        if pids.len() >= n {
            return pids;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the suite did not start ({})", file.display());
}

/// Waits until `path` exists (the suite reached a named moment).
pub fn wait_for_file(path: &Path, limit: Duration) {
    let until = Instant::now() + limit;
    while !path.exists() {
        assert!(Instant::now() < until, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}
