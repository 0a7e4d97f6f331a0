//! One run per work item on this machine. The lock is a `flock` on the
//! work-item folder itself: the kernel drops it when the holder dies, so a
//! killed run never leaves a stale lock, and no lock file litters the
//! feature branch. `gate` probes it with a shared lock held for a few
//! microseconds; a run that finds the lock taken tries again for a moment
//! before it reports the work item busy, so a gate never makes a starting
//! run busy. (Not /proc/locks: every read of it waits for an RCU grace
//! period, 5-20 ms, more than the rest of a gate.)
//!
//! While it holds the lock, a run leaves an entry in the private state
//! folder (work item, pid, since) for `stagerun status`; an entry counts
//! only while its process lives and the folder's lock is held, so a killed
//! run's entry is never shown.

use crate::error::{Error, Result, describe_io};
use std::fs::{File, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A gate's probe holds the lock for microseconds; a run holds it for the
/// whole suite. 20 × 5 ms tells them apart.
const BUSY_RETRIES: u32 = 20;
const BUSY_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

pub struct WorkItemLock {
    file: File,
    entry: Option<std::path::PathBuf>,
}

/// A run in progress on this machine (`stagerun status`).
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct InProgress {
    pub work_item: String,
    /// The work-item folder.
    pub dir: String,
    pub pid: i32,
    /// When it took the lock (RFC 3339, UTC).
    pub since: String,
    /// The attempt it is on (none before the first attempt's command started).
    pub attempt: Option<u32>,
}

/// The entry a run leaves while it holds the lock.
#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    work_item: String,
    dir: String,
    pid: i32,
    /// Tells the pid apart from a later process that reuses it.
    pid_start: Option<u64>,
    since: String,
}

fn entry_path(dir: &Path) -> Option<std::path::PathBuf> {
    crate::state::state_dir().map(|d| d.join(format!("lock-{}.json", crate::state::dir_key(dir))))
}

fn write_entry(dir: &Path, id: &str) -> Option<std::path::PathBuf> {
    let path = entry_path(dir)?;
    let pid = std::process::id() as i32;
    let entry = Entry {
        work_item: id.to_string(),
        dir: dir.display().to_string(),
        pid,
        pid_start: crate::process::group::own_start_time(),
        since: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    };
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string(&entry).ok()?).ok()?;
    std::fs::rename(&tmp, &path).ok()?;
    Some(path)
}

/// Runs holding a work item's lock on this machine (this user's), oldest first.
pub fn in_progress() -> Vec<InProgress> {
    let Some(state) = crate::state::state_dir() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&state).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("lock-") && name.ends_with(".json")) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let Ok(run) = serde_json::from_str::<Entry>(&text) else {
            continue;
        };
        let alive =
            crate::process::group::start_time(run.pid).is_some_and(|t| Some(t) == run.pid_start);
        if !alive {
            // Its run was killed before it could remove it.
            let _ = std::fs::remove_file(entry.path());
            continue;
        }
        if !held(Path::new(&run.dir)) {
            continue;
        }
        found.push(InProgress {
            attempt: crate::state::attempt_of(Path::new(&run.dir)),
            work_item: run.work_item,
            dir: run.dir,
            pid: run.pid,
            since: run.since,
        });
    }
    found.sort_by(|a, b| a.since.cmp(&b.since));
    found
}

impl WorkItemLock {
    pub fn acquire(dir: &Path, id: &str) -> Result<WorkItemLock> {
        let file = File::open(dir).map_err(|e| {
            Error::Usage(format!(
                "work item `{}`: cannot open for locking: {}",
                dir.display(),
                describe_io(&e)
            ))
        })?;
        let mut result = file.try_lock();
        for _ in 0..BUSY_RETRIES {
            if !matches!(result, Err(TryLockError::WouldBlock)) {
                break;
            }
            std::thread::sleep(BUSY_RETRY_PAUSE);
            result = file.try_lock();
        }
        match result {
            Ok(()) => Ok(WorkItemLock {
                file,
                entry: write_entry(dir, id),
            }),
            Err(TryLockError::WouldBlock) => Err(Error::Hold(format!(
                "work item `{}` is busy: run in progress (another stagerun holds its lock); its log was not touched",
                dir.display()
            ))),
            Err(TryLockError::Error(e)) => Err(Error::Hold(format!(
                "work item {id}: cannot lock `{}`: {}",
                dir.display(),
                describe_io(&e)
            ))),
        }
    }

    /// True while the locked folder is the one at `dir` (not swapped).
    pub fn guards(&self, dir: &Path) -> bool {
        match (self.file.metadata(), std::fs::metadata(dir)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
}

impl Drop for WorkItemLock {
    fn drop(&mut self) {
        if let Some(p) = &self.entry {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Whether a run holds the folder's lock: a shared lock that cannot be had
/// means a run holds it exclusively.
pub fn held(dir: &Path) -> bool {
    match File::open(dir) {
        Ok(f) => matches!(f.try_lock_shared(), Err(TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_sees_a_lock_without_taking_it() {
        let t = tempfile::tempdir().unwrap();
        assert!(!held(t.path()));
        let lock = WorkItemLock::acquire(t.path(), "ORCH-1").unwrap();
        assert!(held(t.path()));
        assert!(lock.guards(t.path()));
        assert!(matches!(
            WorkItemLock::acquire(t.path(), "ORCH-1"),
            Err(Error::Hold(_))
        ));
        drop(lock);
        assert!(!held(t.path()));
    }

    #[test]
    fn gates_probing_in_a_loop_never_make_a_run_busy() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().to_path_buf();
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let probes = std::sync::Arc::new(AtomicU64::new(0));
        let probing = {
            let (dir, stop, probes) = (dir.clone(), stop.clone(), probes.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    held(&dir);
                    probes.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut runs = 0;
        while (runs < 300 || probes.load(Ordering::Relaxed) < 3000)
            && std::time::Instant::now() < until
        {
            let lock = WorkItemLock::acquire(&dir, "ORCH-1")
                .unwrap_or_else(|e| panic!("run {runs} found the item busy under probing: {e}"));
            drop(lock);
            runs += 1;
        }
        stop.store(true, Ordering::Relaxed);
        probing.join().unwrap();
        assert!(
            probes.load(Ordering::Relaxed) >= 3000,
            "the probes ran alongside"
        );
    }
}
