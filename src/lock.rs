//! One run per work item. The lock is a `flock` on the work-item folder
//! itself: the kernel drops it when the holder dies, so a killed run never
//! leaves a stale lock, and no lock file litters the feature branch.

use crate::exit::Exit;
use anyhow::Result;
use std::fs::{File, TryLockError};
use std::path::Path;

pub struct WorkItemLock {
    _file: File,
}

pub fn acquire(dir: &Path, id: &str) -> Result<WorkItemLock> {
    let file = File::open(dir).map_err(|e| {
        Exit::usage(format!(
            "work item `{}`: cannot open for locking: {e}",
            dir.display()
        ))
    })?;
    match file.try_lock() {
        Ok(()) => Ok(WorkItemLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(Exit::hold(format!(
            "work item {id} is busy: another stagerun run holds its lock; not touching its log"
        ))),
        Err(TryLockError::Error(e)) => Err(Exit::hold(format!(
            "work item {id}: cannot lock `{}`: {e}",
            dir.display()
        ))),
    }
}
