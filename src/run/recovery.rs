//! If stagerun itself was SIGKILLed, its suite may still run (a local
//! group whose leader died with us, or the suite where it runs). Each run
//! records what it started in a private state folder; the next run for the
//! same work item finds the record, stops what is left (verified), and says
//! so. The record lives outside the work item, so nothing reaches git.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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

/// `$XDG_RUNTIME_DIR/stagerun` or `/tmp/stagerun-UID`, private to us.
pub fn state_dir() -> Option<PathBuf> {
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
    format!(
        "{:016x}",
        crate::history::fingerprint(dir.as_os_str().as_encoded_bytes())
    )
}

/// The attempt the run for `dir` is on, from its record.
pub fn attempt_of(dir: &std::path::Path) -> Option<u32> {
    let path = state_dir()?.join(format!("run-{}.json", dir_key(dir)));
    let r: Record = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    (r.attempt > 0).then_some(r.attempt)
}

pub struct Recorder {
    path: Option<PathBuf>,
    record: Record,
}

impl Recorder {
    pub fn for_work_item(dir: &std::path::Path) -> Recorder {
        let pid = std::process::id() as i32;
        Recorder {
            path: state_dir().map(|d| d.join(format!("run-{}.json", dir_key(dir)))),
            record: Record {
                pid,
                pid_start: crate::process::group::start_time(pid),
                ..Record::default()
            },
        }
    }

    /// What a previous run left, if it did not end cleanly. We hold the
    /// work item's lock, so its writer is gone.
    pub fn leftover(&self) -> Option<Record> {
        let text = std::fs::read_to_string(self.path.as_ref()?).ok()?;
        let r: Record = serde_json::from_str(&text).ok()?;
        let same_process = r.pid == self.record.pid && r.pid_start == self.record.pid_start;
        (!same_process).then_some(r)
    }

    /// Called as each connection of an attempt starts (a reattach keeps
    /// the attempt's nonce and its number).
    pub fn set(
        &mut self,
        nonce: Option<String>,
        local_group: Option<i32>,
        identity: Option<String>,
    ) {
        if self.record.attempt == 0 || self.record.nonce != nonce {
            self.record.attempt += 1;
        }
        self.record.nonce = nonce;
        self.record.local_group = local_group;
        self.record.identity = identity;
        self.save();
    }

    fn save(&self) {
        let Some(path) = &self.path else { return };
        if let Ok(text) = serde_json::to_string(&self.record) {
            let tmp = path.with_extension("json.tmp");
            if std::fs::write(&tmp, text).is_ok() {
                let _ = std::fs::rename(&tmp, path);
            }
        }
    }

    pub fn clear(&self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}
