//! `connection_persist` (a shared ssh master) under invocations that race,
//! against the real sshd on loopback. The suite runs on the ssh host itself
//! (`engine: none`), so only sshd is needed.

use crate::common::sshd::{self, Sshd};
use crate::common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Shared {
    server: Sshd,
    sb: Sandbox,
    /// XDG_RUNTIME_DIR of these invocations: their private state (and the
    /// shared master's socket) apart from every other test's.
    runtime: tempfile::TempDir,
}

fn shared(persist: &str) -> Option<Shared> {
    if !require("sshd", sshd::available()) {
        return None;
    }
    let server = Sshd::start();
    let sb = Sandbox::new();
    let runtime = tempfile::Builder::new()
        .prefix("srp")
        .tempdir_in("/tmp")
        .unwrap();
    let state = sb.path().join("remote-state");
    sb.write(
        "stagerun.yaml",
        &format!(
            "{}engine: none\ncheck_script: {}\ntimeout: 60\ngrace: 1\ninfra_retries: 0\npush: false\nremote_state_dir: {}\nconnection_persist: {persist}\n",
            server.config("client", "known_hosts"),
            check_script().display(),
            state.display()
        ),
    );
    Some(Shared {
        server,
        sb,
        runtime,
    })
}

impl Shared {
    fn run(&self, item: &Path) -> std::process::Command {
        let mut c = stagerun_std(self.sb.path());
        c.arg("run")
            .arg(item)
            .args(["--repo", "orch-core"])
            .env("XDG_RUNTIME_DIR", self.runtime.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c
    }

    /// `ssh -M` processes for this server, whoever's child they are.
    fn masters(&self) -> Vec<String> {
        processes_matching("ControlMaster=yes")
            .into_iter()
            .filter(|p| p.contains(&format!("-p {}", self.server.port)))
            .collect()
    }

    fn masters_gone_within(&self, limit: Duration) -> Vec<String> {
        let until = Instant::now() + limit;
        loop {
            let left = self.masters();
            if left.is_empty() || Instant::now() >= until {
                return left;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The shared master's socket: the one `m-…` entry without an extension.
    fn socket(&self) -> Option<PathBuf> {
        std::fs::read_dir(self.runtime.path().join("stagerun"))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with("m-") && !name.contains('.')
            })
    }
}

/// Ten runs at once with no master yet (the hostile trial's case): they
/// once all logged in, ten `ssh -M -f` masters started, nine of them found
/// the socket taken ("disabling multiplexing") and stayed authenticated
/// forever, parented to init. Opening is serialised by a lock beside the
/// socket: one login, one master, and it is gone `connection_persist`
/// after the last use.
#[test]
fn racing_persisted_runs_open_one_master_that_expires() {
    let Some(t) = shared("4s") else {
        return;
    };
    let items: Vec<PathBuf> = (0..10).map(|_| t.sb.work_item(&uid("ORCH"))).collect();
    let children: Vec<_> = items
        .iter()
        .map(|item| t.run(item).spawn().unwrap())
        .collect();
    for (child, item) in children.into_iter().zip(&items) {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            log_text(item)
        );
    }
    let masters = t.masters();
    assert_eq!(
        t.server.logins(),
        1,
        "one login for ten racing runs; masters: {masters:?}"
    );
    assert_eq!(masters.len(), 1, "one master: {masters:?}");
    let left = t.masters_gone_within(Duration::from_secs(4 + 6));
    assert!(
        left.is_empty(),
        "nothing authenticated outlives connection_persist after the last use: {left:?}"
    );
}

/// A folder where the shared master's socket goes: ssh cannot put its
/// socket there (it once said "opened a shared ssh master" while
/// multiplexing was off, and that master never expired). The run says so,
/// uses a master of its own that dies with it, and its verdict stands.
#[test]
fn a_folder_at_the_shared_socket_path_is_said_and_leaks_no_master() {
    let Some(t) = shared("60s") else {
        return;
    };
    let item = t.sb.work_item(&uid("ORCH"));
    let out = t.run(&item).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let socket = t.socket().expect("the shared master's socket");
    let out = stagerun_std(t.sb.path())
        .args(["disconnect", "--repo", "orch-core"])
        .env("XDG_RUNTIME_DIR", t.runtime.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(t.masters_gone_within(Duration::from_secs(5)).is_empty());

    std::fs::create_dir(&socket).unwrap();
    let out = t.run(&item).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("opened a shared ssh master"), "{err}");
    assert!(err.contains("is a folder, not a socket"), "{err}");
    assert_eq!(front(&item, "staging_status").as_deref(), Some("SUCCESS"));
    let left = t.masters_gone_within(Duration::from_secs(5));
    assert!(left.is_empty(), "a master outlived the run: {left:?}");
    assert_eq!(t.server.logins(), 2, "{}", t.server.log());
}

/// The socket path taken between our look and ssh's (by an opener that
/// takes no lock): ssh authenticates, finds the path taken and disables
/// multiplexing. That master is not the socket's, so it is closed at once
/// and the run uses one of its own; nothing is left connected.
#[test]
fn a_master_that_did_not_get_the_socket_is_closed_at_once() {
    let Some(t) = shared("60s") else {
        return;
    };
    let item = t.sb.work_item(&uid("ORCH"));
    let out = t
        .run(&item)
        .env("STAGERUN_FAULT", "shared-socket-taken")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("is not the master ssh just opened"), "{err}");
    assert!(!err.contains("opened a shared ssh master"), "{err}");
    let left = t.masters_gone_within(Duration::from_secs(5));
    assert!(left.is_empty(), "a master outlived the run: {left:?}");
    // The next run finds the folder and says so.
    let out = t.run(&item).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a folder, not a socket"), "{err}");
    assert!(t.masters_gone_within(Duration::from_secs(5)).is_empty());
}

/// `disconnect --json` prints exactly one object on every exit path: with a
/// master, without one, with a transport that is not ssh, and on an error.
#[test]
fn disconnect_json_prints_one_object_on_every_exit_path() {
    let Some(t) = shared("60s") else {
        return;
    };
    let disconnect = |extra: &[&str], code: i32| {
        let out = stagerun_std(t.sb.path())
            .args(["disconnect", "--repo", "orch-core", "--json"])
            .args(extra)
            .env("XDG_RUNTIME_DIR", t.runtime.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "{err}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            text.lines().count(),
            1,
            "one object on stdout: {text:?} ({err})"
        );
        json(&out.stdout)
    };
    let item = t.sb.work_item(&uid("ORCH"));
    let out = t.run(&item).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(t.masters().len(), 1);

    let v = disconnect(&[], 0);
    assert_eq!(v["schema"], "stagerun.disconnect/1");
    assert_eq!(v["verdict"], "SUCCESS");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["closed"], true);
    assert!(t.masters_gone_within(Duration::from_secs(5)).is_empty());
    let v = disconnect(&[], 0);
    assert_eq!(v["closed"], false);
    assert_eq!(v["verdict"], "SUCCESS");
    let v = disconnect(&["--transport", "local"], 0);
    assert_eq!(v["closed"], false);
    assert_eq!(v["target"], serde_json::Value::Null);
    // A bad value of a key disconnect takes (it takes no --timeout).
    let v = disconnect(&["--port", "0"], 78);
    assert_schema_valid(&v);
    assert_eq!(v["verdict"], "ERROR");
}
