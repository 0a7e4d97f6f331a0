//! One ssh master connection (ControlMaster) serves preflight, the run and
//! its retries; it lives in a private folder and is closed on drop.

use crate::config::Settings;
use crate::transport;
use std::path::PathBuf;
use std::time::Duration;

pub struct Master {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    settings: Settings,
}

fn run_quiet(argv: &[String], timeout: Duration) -> Result<(), String> {
    let err_file = tempfile::tempfile().map_err(|e| e.to_string())?;
    let err_read = err_file.try_clone().map_err(|e| e.to_string())?;
    let expr = duct::cmd(&argv[0], &argv[1..])
        .stdin_null()
        .stdout_null()
        .stderr_file(err_file);
    match crate::supervise::run_bounded(expr, timeout) {
        Ok(Some(out)) if out.status.success() => Ok(()),
        Ok(Some(out)) => {
            use std::io::{Read, Seek};
            let mut f = err_read;
            let _ = f.rewind();
            let mut text = String::new();
            let _ = f.take(64 * 1024).read_to_string(&mut text);
            let line = text
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty())
                .unwrap_or("")
                .to_string();
            Err(format!("exit {}: {line}", out.status.code().unwrap_or(-1)))
        }
        Ok(None) => Err("timed out".into()),
        Err(e) => Err(format!("cannot run {}: {e}", argv[0])),
    }
}

impl Master {
    /// Opens the master; None (with a note on stderr) when it cannot, in
    /// which case every ssh call connects on its own and its failure is
    /// classified as usual.
    pub fn open(settings: &Settings) -> Option<Master> {
        let dir = tempfile::Builder::new()
            .prefix("stagerun-ssh-")
            .tempdir()
            .ok()?;
        // ssh control paths must fit in a unix socket address (108 bytes).
        let path = dir.path().join("cm");
        let argv = transport::ssh_master_argv(settings, &path).ok()?;
        match run_quiet(&argv, settings.connect_timeout + Duration::from_secs(5)) {
            Ok(()) if path.exists() => Some(Master {
                _dir: dir,
                path,
                settings: settings.clone(),
            }),
            Ok(()) => None,
            Err(e) => {
                eprintln!(
                    "stagerun: ssh master connection not established ({e}); connecting per command"
                );
                None
            }
        }
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        if let Ok(argv) = transport::ssh_exit_argv(&self.settings, &self.path) {
            let _ = run_quiet(&argv, Duration::from_secs(5));
        }
    }
}
