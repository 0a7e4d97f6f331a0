//! The real Docker engine with an image built here without any registry:
//! a scratch-style rootfs (links to /usr, the fixture suite under /staging)
//! imported with `docker import`; containers bind-mount the host's /usr
//! read-only so python3 runs inside them, and have no network.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub const SCRIPT_IN_CONTAINER: &str = "/staging/staging_check.py";

pub fn available() -> Result<(), String> {
    let out = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("docker CLI not runnable: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "docker engine not answering: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    if !Path::new("/usr/bin/python3").exists() {
        return Err(
            "/usr/bin/python3 missing on the host (bind-mounted into test containers)".into(),
        );
    }
    Ok(())
}

fn run(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The image tag; built once per test binary.
pub fn image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let script = std::fs::read(super::check_script()).unwrap();
        let hash = script.iter().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ *b as u64).wrapping_mul(0x100000001b3)
        });
        let tag = format!("stagerun-e2e:{hash:016x}");
        if Command::new("docker")
            .args(["image", "inspect", &tag])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
        {
            return tag;
        }
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for d in ["etc", "tmp", "proc", "sys", "dev", "staging", "root", "usr"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        for (link, target) in [
            ("bin", "usr/bin"),
            ("lib", "usr/lib"),
            ("lib64", "usr/lib64"),
            ("sbin", "usr/sbin"),
        ] {
            std::os::unix::fs::symlink(target, r.join(link)).unwrap();
        }
        std::fs::write(r.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        std::fs::write(r.join("staging/staging_check.py"), script).unwrap();
        let tar = root.path().with_extension("tar");
        assert!(
            Command::new("tar")
                .arg("-C")
                .arg(r)
                .arg("-cf")
                .arg(&tar)
                .arg(".")
                .status()
                .unwrap()
                .success()
        );
        run(&["import", tar.to_str().unwrap(), &tag]);
        let _ = std::fs::remove_file(&tar);
        tag
    })
}

pub struct Container {
    pub name: String,
}

impl Container {
    /// A running container whose suite behaves as `scenario`.
    pub fn start(scenario: &str) -> Container {
        let name = format!("stagerun-e2e-{}-{}", std::process::id(), unique());
        run(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "-v",
            "/usr:/usr:ro",
            "-e",
            &format!("STAGING_CHECK_SCENARIO={scenario}"),
            "-e",
            "PYTHONDONTWRITEBYTECODE=1",
            image(),
            "/usr/bin/sleep",
            "infinity",
        ]);
        Container { name }
    }
    pub fn kill(&self) {
        run(&["kill", &self.name]);
    }
    pub fn pause(&self) {
        run(&["pause", &self.name]);
    }
    /// Processes in the container whose command line contains `needle`.
    pub fn processes_matching(&self, needle: &str) -> Vec<String> {
        let out = Command::new("docker")
            .args(["top", &self.name, "-eo", "pid,args"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}
