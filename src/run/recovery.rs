//! If stagerun itself was SIGKILLed, its suite may still run (a local
//! group whose leader died with us, or the suite where it runs). Each run
//! records what it started in a private state folder; the next run for the
//! same work item finds the record, stops what is left (verified), and says
//! so. The record lives outside the work item, so nothing reaches git.

pub use crate::state::{Record, dir_key, state_dir};
use std::path::PathBuf;

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
                pid_start: crate::process::group::own_start_time(),
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
