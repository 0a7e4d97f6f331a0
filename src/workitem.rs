//! The work item: a folder whose name is its id.

use crate::exit::Exit;
use anyhow::Result;
use regex::Regex;
use std::path::{Path, PathBuf};

pub const LOG_FILE: &str = "15-staging-log.md";

#[derive(Debug, Clone)]
pub struct WorkItem {
    pub dir: PathBuf,
    pub id: String,
}

impl WorkItem {
    /// Checks the folder exists, is a directory and its name is a valid id.
    /// Writability is checked separately by `check_writable`, because `gate`
    /// only reads.
    pub fn open(dir: &Path, id_pattern: &Regex) -> Result<WorkItem> {
        let shown = dir.display();
        let meta = std::fs::metadata(dir)
            .map_err(|e| Exit::usage(format!("work item `{shown}`: {}", describe_io(&e))))?;
        if !meta.is_dir() {
            return Err(Exit::usage(format!("work item `{shown}` is not a folder")));
        }
        let canonical = std::fs::canonicalize(dir)
            .map_err(|e| Exit::usage(format!("work item `{shown}`: {}", describe_io(&e))))?;
        let name = canonical
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                Exit::usage(format!(
                    "work item `{shown}`: folder name is not valid UTF-8"
                ))
            })?;
        validate_id(name, id_pattern)?;
        std::fs::read_dir(&canonical).map_err(|e| {
            Exit::usage(format!(
                "work item `{shown}` is not readable: {}",
                describe_io(&e)
            ))
        })?;
        Ok(WorkItem {
            dir: canonical.clone(),
            id: name.to_string(),
        })
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    /// Fails early, before anything runs, when the verdict could not be recorded.
    pub fn check_writable(&self) -> Result<()> {
        let probe = tempfile::Builder::new()
            .prefix(".stagerun-probe-")
            .tempfile_in(&self.dir);
        match probe {
            Ok(_) => Ok(()),
            Err(e) => Err(Exit::usage(format!(
                "work item `{}` is not writable: {}",
                self.dir.display(),
                describe_io(&e)
            ))),
        }
    }
}

pub fn validate_id(id: &str, pattern: &Regex) -> Result<()> {
    if id.chars().any(|c| c.is_control()) || !pattern.is_match(id) {
        return Err(Exit::usage(format!(
            "work item id {id:?} does not match the id pattern `{}`",
            pattern.as_str()
        )));
    }
    Ok(())
}

pub fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or folder".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_ID_PATTERN;

    #[test]
    fn ids() {
        let re = Regex::new(DEFAULT_ID_PATTERN).unwrap();
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
    }
}
