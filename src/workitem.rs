//! The work item: a folder whose name is its id.
//!
//! The id is the last component of the path as given (a symlink
//! `ORCH-115 -> /srv/x` is work item ORCH-115); `.` and `..` use the
//! resolved folder's name. The log is written into the resolved folder, and
//! a folder swapped during the run is refused (its identity is checked
//! before the log is written).

use crate::error::{Error, Result, describe_io};
use regex::Regex;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

pub const LOG_FILE: &str = "15-staging-log.md";

/// Beside the log: present while the last run's verdict is not recorded.
pub fn unrecorded_marker(log: &Path) -> PathBuf {
    log.with_file_name(format!(".{LOG_FILE}.unrecorded"))
}

#[derive(Debug, Clone)]
pub struct WorkItem {
    /// The resolved folder.
    pub dir: PathBuf,
    pub id: String,
    /// (device, inode) of the folder when the run began.
    identity: (u64, u64),
}

/// The work item's folder, or the one wording every subcommand (`run`,
/// `gate`) gives for a path that is missing or not a folder.
pub fn folder(given: &Path) -> Result<std::fs::Metadata> {
    let shown = given.display();
    let meta = std::fs::metadata(given)
        .map_err(|e| Error::Usage(format!("work item `{shown}`: {}", describe_io(&e))))?;
    if !meta.is_dir() {
        return Err(Error::Usage(format!("work item `{shown}` is not a folder")));
    }
    Ok(meta)
}

impl WorkItem {
    /// Checks the folder exists, is a directory and its name is a valid id.
    /// Writability is checked separately (`check_writable`): `gate` only reads.
    pub fn open(given: &Path, id_pattern: &Regex) -> Result<WorkItem> {
        let shown = given.display();
        let meta = folder(given)?;
        let dir = std::fs::canonicalize(given)
            .map_err(|e| Error::Usage(format!("work item `{shown}`: {}", describe_io(&e))))?;
        let named = match given.components().next_back() {
            Some(Component::Normal(n)) => Some(n.to_owned()),
            _ => dir.file_name().map(|n| n.to_owned()),
        };
        let id = named
            .as_deref()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "work item `{shown}`: folder name is not valid UTF-8"
                ))
            })?
            .to_string();
        validate_id(&id, id_pattern)?;
        std::fs::read_dir(&dir).map_err(|e| {
            Error::Usage(format!(
                "work item `{shown}` is not readable: {}",
                describe_io(&e)
            ))
        })?;
        Ok(WorkItem {
            identity: (meta.dev(), meta.ino()),
            dir,
            id,
        })
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    /// Fails before anything runs when the verdict could not be recorded:
    /// no room to create a file, a log path that is not a file, or a log
    /// that a sticky folder would not let us replace. Call it holding the
    /// lock: it leaves the "not recorded" marker, which only writing the
    /// new log removes, so a run killed from here on (SIGKILL, a CI
    /// cancel, the OOM killer) leaves `gate` reading HOLD, never the
    /// previous verdict. (Not synced: a killed process is the case it is
    /// for; the log write itself is durable.)
    pub fn check_writable(&self) -> Result<()> {
        let refuse =
            |why: String| Error::Usage(format!("work item `{}`: {why}", self.dir.display()));
        let log = self.log_path();
        let marker = unrecorded_marker(&log);
        let note = format!(
            "a run (pid {}) started at {} and ended without recording a verdict: killed, or its machine went down",
            std::process::id(),
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
        );
        std::fs::write(&marker, note + "\n").map_err(|e| {
            let why = format!("is not writable: {}", describe_io(&e));
            match e.raw_os_error() {
                // No room is an infrastructure fault, not a wrong argument.
                Some(libc::ENOSPC) | Some(libc::EDQUOT) => Error::Hold(format!(
                    "work item `{}` {why}; nothing was run",
                    self.dir.display()
                )),
                _ => refuse(why),
            }
        })?;
        let Ok(meta) = std::fs::symlink_metadata(&log) else {
            return Ok(());
        };
        if meta.is_dir() {
            return Err(refuse(format!("{LOG_FILE} is a folder, not a file")));
        }
        if !meta.is_file() && !meta.file_type().is_symlink() {
            return Err(refuse(format!("{LOG_FILE} is not a regular file")));
        }
        let dir_meta = std::fs::metadata(&self.dir)?;
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        let sticky = dir_meta.mode() & libc::S_ISVTX != 0;
        if sticky && me != 0 && meta.uid() != me && dir_meta.uid() != me {
            return Err(refuse(format!(
                "{LOG_FILE} belongs to another user in a sticky folder; it cannot be replaced"
            )));
        }
        Ok(())
    }

    /// True while the folder is still the one the run started in.
    pub fn unchanged(&self) -> bool {
        std::fs::metadata(&self.dir).is_ok_and(|m| (m.dev(), m.ino()) == self.identity)
    }

    /// Removes temp files a killed writer left behind (`.15-staging-log.md.*.tmp`).
    pub fn clean_stale_temp_files(&self) -> usize {
        let prefix = format!(".{LOG_FILE}.");
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(&prefix)
                && name.ends_with(".tmp")
                && std::fs::remove_file(e.path()).is_ok()
            {
                removed += 1;
            }
        }
        removed
    }
}

pub fn validate_id(id: &str, pattern: &Regex) -> Result<()> {
    // Refused whatever the pattern says, so the message says why: an id
    // `-rf` matches `.*`, and "does not match" would be false.
    let never = if id.starts_with('-') {
        Some("starts with `-` (it would read as an option)".to_string())
    } else {
        id.chars()
            .find(|c| c.is_control() || c.is_whitespace())
            .map(|c| {
                format!("contains {c:?} (whitespace and control characters are never allowed)")
            })
    };
    if let Some(why) = never {
        return Err(Error::Usage(format!("work item id {id:?} {why}")));
    }
    if !pattern.is_match(id) {
        return Err(Error::Usage(format!(
            "work item id {id:?} does not match the id pattern `{}`",
            pattern.as_str()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_ID: &str = r"^[A-Z][A-Z0-9]*-[0-9]+[a-z]?$";

    #[test]
    fn ids() {
        let re = Regex::new(DEFAULT_ID).unwrap();
        for ok in ["ORCH-115", "A-1", "ORCH2-7b"] {
            assert!(validate_id(ok, &re).is_ok(), "{ok}");
        }
        for bad in [
            "orch-115",
            "ORCH-",
            "ORCH-1;rm -rf /",
            "ORCH-1\n",
            "ORCH-1 ",
            "$(x)-1",
            "ORCH-1ab",
        ] {
            assert!(validate_id(bad, &re).is_err(), "{bad}");
        }
        // A permissive custom pattern still never lets an option through.
        let any = Regex::new(".*").unwrap();
        assert!(validate_id("-rf", &any).is_err());
    }

    /// Under a pattern they match, the refusal names the real reason.
    #[test]
    fn ids_refused_whatever_the_pattern_say_why() {
        let any = Regex::new(".*").unwrap();
        for (id, why) in [
            ("-rf", "starts with `-`"),
            ("A-1 x", "contains ' '"),
            ("A-1\tx", "contains '\\t'"),
            ("A-1\u{1b}", "contains '\\u{1b}'"),
        ] {
            let msg = validate_id(id, &any).unwrap_err().to_string();
            assert!(msg.contains(why), "{id:?}: {msg}");
            assert!(!msg.contains("does not match"), "{id:?}: {msg}");
        }
        let strict = Regex::new(DEFAULT_ID).unwrap();
        let msg = validate_id("orch-1", &strict).unwrap_err().to_string();
        assert!(msg.contains("does not match the id pattern"), "{msg}");
    }

    #[test]
    fn id_comes_from_the_path_as_given() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("target-folder");
        std::fs::create_dir(&target).unwrap();
        let link = t.path().join("ORCH-7");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let item = WorkItem::open(&link, &Regex::new(DEFAULT_ID).unwrap()).unwrap();
        assert_eq!(item.id, "ORCH-7");
        assert_eq!(item.dir, std::fs::canonicalize(&target).unwrap());
        assert!(item.unchanged());
    }
}
