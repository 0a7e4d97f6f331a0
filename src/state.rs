//! The private state folder (`$XDG_RUNTIME_DIR/stagerun` or
//! `/tmp/stagerun-UID`): what a run records there so that a later one finds
//! a killed runner's leftovers, and the lock entries `status` lists. Below
//! both `run` and `lock`, which read it.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::OnceLock;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Record {
    pub pid: i32,
    pub pid_start: Option<u64>,
    pub nonce: Option<String>,
    pub local_group: Option<i32>,
    /// What makes the run the same command (a later one adopts it).
    #[serde(default)]
    pub identity: Option<String>,
    /// Attempts started so far (`stagerun status` shows it).
    #[serde(default)]
    pub attempt: u32,
}

/// `$XDG_RUNTIME_DIR/stagerun` or `/tmp/stagerun-UID`, private to us;
/// looked up (created, its owner and mode checked) once per process.
pub fn state_dir() -> Option<PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(find_state_dir).clone()
}

fn find_state_dir() -> Option<PathBuf> {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("stagerun"),
        None => PathBuf::from(format!("/tmp/stagerun-{uid}")),
    };
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let _ = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir);
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    // Someone else's folder (or a symlink planted in /tmp) is not ours to use.
    (meta.is_dir() && meta.uid() == uid && meta.mode() & 0o077 == 0).then_some(dir)
}

/// A work-item folder's name in the state folder.
pub fn dir_key(dir: &std::path::Path) -> String {
    format!("{:016x}", fingerprint(dir.as_os_str().as_encoded_bytes()))
}

/// The attempt the run for `dir` is on, from its record.
pub fn attempt_of(dir: &std::path::Path) -> Option<u32> {
    let path = state_dir()?.join(format!("run-{}.json", dir_key(dir)));
    let r: Record = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    (r.attempt > 0).then_some(r.attempt)
}

/// FNV-1a: a fingerprint of a log's bytes, for picking between versions.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h = (h ^ *b as u64).wrapping_mul(0x100000001b3);
    }
    h
}
