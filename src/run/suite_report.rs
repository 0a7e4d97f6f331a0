//! The suite's own report (junit), read once the attempt is over: here, or
//! back through the channel; bounded in size either way.

use super::plan::Plan;
use crate::process::helper::Helper;
use crate::suite::{self, SuiteReport};
use crate::transport::session::Session;
use std::time::Duration;

/// junit: the suite's report, read back through the same channel.
pub fn read(plan: &Plan, session: Option<&mut Session>) -> SuiteReport {
    let Some(path) = plan.report_path() else {
        return SuiteReport::default();
    };
    let errors_fail = plan.settings.junit_errors == crate::config::JunitErrors::Failed;
    let bytes = if plan.transport.wrapped() {
        let control = match session {
            Some(s) => s.alive().then(|| s.control.clone()),
            None => None,
        };
        let cmd = vec![
            "sh".to_string(),
            "-c".into(),
            format!(
                r#"[ -f "$1" ] || {{ {NOT_A_FILE} }}; s=$(wc -c < "$1"); [ "$s" -le "$2" ] || {{ echo "report is $s bytes, over $2" >&2; exit 4; }}; cat "$1""#
            ),
            "stagerun-report".into(),
            path.to_string(),
            REPORT_MAX.to_string(),
        ];
        let argv = match plan.transport.argv(cmd, control.as_deref()) {
            Ok(a) => a,
            Err(e) => return incomplete(format!("cannot read the report: {e}")),
        };
        let mut h = Helper::new(
            argv,
            plan.settings.connect_timeout.0 + Duration::from_secs(30),
        );
        h.capture = REPORT_MAX + 1;
        let out = h.run();
        if !out.success() {
            let why = out
                .stderr_text()
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .to_string();
            return incomplete(format!(
                "the suite's report {path} could not be read: {why}"
            ));
        }
        out.stdout
    } else {
        match read_bounded(std::path::Path::new(path)) {
            Ok(b) => b,
            Err(why) => {
                return incomplete(format!(
                    "the suite's report {path} could not be read: {why}"
                ));
            }
        }
    };
    suite::junit::parse_report(&bytes, errors_fail, REPORT_MAX)
}

const REPORT_MAX: usize = 32 << 20;

/// Where the report read back is not a regular file: what it is, in the
/// words `kind` uses here (a symlink to /dev/zero or a FIFO is not "no
/// report"; `cat` on either would never end).
const NOT_A_FILE: &str = r#"if [ -d "$1" ]; then k="a folder"; elif [ -p "$1" ]; then k="a FIFO (named pipe)"; elif [ -c "$1" ]; then k="a character device"; elif [ -b "$1" ]; then k="a block device"; elif [ -S "$1" ]; then k="a socket"; elif [ -L "$1" ]; then k="a symbolic link to nothing"; elif [ -e "$1" ]; then k="a special file"; else echo "no report at $1" >&2; exit 3; fi; if [ -L "$1" ] && [ -e "$1" ]; then k="a symbolic link to $k"; fi; printf '%s\n' "it is $k, not a regular file" >&2; exit 3;"#;

/// The same words for a report read here.
fn kind(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let link = std::fs::symlink_metadata(path)
        .ok()?
        .file_type()
        .is_symlink();
    let what = match std::fs::metadata(path) {
        Err(_) if link => return Some("a symbolic link to nothing".into()),
        Err(_) => return None,
        Ok(m) if m.is_file() => return None,
        Ok(m) => {
            let t = m.file_type();
            if t.is_dir() {
                "a folder"
            } else if t.is_fifo() {
                "a FIFO (named pipe)"
            } else if t.is_char_device() {
                "a character device"
            } else if t.is_block_device() {
                "a block device"
            } else if t.is_socket() {
                "a socket"
            } else {
                "a special file"
            }
        }
    };
    Some(if link {
        format!("a symbolic link to {what}")
    } else {
        what.to_string()
    })
}

fn incomplete(why: String) -> SuiteReport {
    SuiteReport {
        incomplete: Some(why),
        ..SuiteReport::default()
    }
}

fn read_bounded(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(what) = kind(path) {
        return Err(format!("it is {what}, not a regular file"));
    }
    // Non-blocking: a FIFO put there after the look would hold open() for
    // ever (and no signal ends that wait).
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| crate::error::describe_io(&e))?;
    let meta = f.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    let mut buf = Vec::new();
    f.take(REPORT_MAX as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| crate::error::describe_io(&e))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Report paths that are not regular files, each with what must be said.
    fn specials(dir: &Path) -> Vec<(std::path::PathBuf, &'static str)> {
        let p = |n: &str| dir.join(n);
        std::fs::create_dir(p("folder")).unwrap();
        let fifo = std::ffi::CString::new(p("fifo").to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path in our own temp folder.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        std::os::unix::fs::symlink("/dev/zero", p("zero")).unwrap();
        std::os::unix::fs::symlink(p("fifo"), p("to-fifo")).unwrap();
        std::os::unix::fs::symlink(p("nowhere"), p("dangling")).unwrap();
        vec![
            (p("folder"), "it is a folder, not a regular file"),
            (p("fifo"), "it is a FIFO (named pipe), not a regular file"),
            (
                p("zero"),
                "it is a symbolic link to a character device, not a regular file",
            ),
            (
                p("to-fifo"),
                "it is a symbolic link to a FIFO (named pipe), not a regular file",
            ),
            (
                p("dangling"),
                "it is a symbolic link to nothing, not a regular file",
            ),
            (p("absent"), "no report at "),
        ]
    }

    #[test]
    fn a_report_that_is_not_a_file_is_said_as_it_is_here() {
        let dir = tempfile::tempdir().unwrap();
        for (path, said) in specials(dir.path()) {
            let why = read_bounded(&path).unwrap_err();
            if said == "no report at " {
                assert!(why.contains("no such file"), "{why}");
            } else {
                assert_eq!(why, said, "{}", path.display());
            }
        }
        let file = dir.path().join("report.xml");
        std::fs::write(&file, "<testsuite/>").unwrap();
        assert_eq!(read_bounded(&file).unwrap(), b"<testsuite/>");
    }

    /// The read-back script says the same, in every shell we ship for.
    #[test]
    fn a_report_that_is_not_a_file_is_said_as_it_is_where_the_suite_ran() {
        let dir = tempfile::tempdir().unwrap();
        let cases = specials(dir.path());
        let script = format!(r#"[ -f "$1" ] || {{ {NOT_A_FILE} }}; cat "$1""#);
        let shells: Vec<Vec<&str>> = [vec!["sh"], vec!["dash"], vec!["busybox", "sh"]]
            .into_iter()
            .filter(|s| {
                std::process::Command::new(s[0])
                    .arg("-c")
                    .arg(":")
                    .output()
                    .is_ok()
            })
            .collect();
        assert!(!shells.is_empty());
        for shell in shells {
            for (path, said) in &cases {
                let out = std::process::Command::new(shell[0])
                    .args(&shell[1..])
                    .args(["-c", &script, "read-back"])
                    .arg(path)
                    .output()
                    .unwrap();
                assert_eq!(out.status.code(), Some(3), "{shell:?} {}", path.display());
                assert!(out.stdout.is_empty());
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(
                    err.trim_end().ends_with(said) || err.starts_with(said),
                    "{shell:?} {}: {err}",
                    path.display()
                );
            }
        }
    }
}
