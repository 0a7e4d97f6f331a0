//! The image of ./Dockerfile, built by scripts/image.sh from the tarball that
//! make dist wrote (called by dist.rs, which built it). No registry can be
//! reached, so the base is Debian bookworm made here with debootstrap from
//! Debian's package mirror and `docker import`ed (the same distribution as
//! the Dockerfile's default debian:bookworm-slim), passed as BASE_IMAGE; the
//! Dockerfile's own apt-get install runs for real against the same mirror.

use crate::common::sshd::{self, Sshd};
use crate::common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

const DEBIAN_BASE: &str = "stagerun-test-base:debootstrap-bookworm";
/// The image's user (Dockerfile: USER 10001:10001).
const IMAGE_UID: u32 = 10001;

fn debootstrap() -> Result<PathBuf, String> {
    ["/usr/sbin/debootstrap", "/usr/bin/debootstrap"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| "debootstrap is not installed (apt-get install debootstrap)".into())
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs")
}

fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "docker {args:?}:\n{text}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A minimal Debian bookworm, made once per engine and kept for later runs.
fn debian_base(debootstrap: &Path) -> &'static str {
    if docker(&["image", "inspect", DEBIAN_BASE]).status.success() {
        return DEBIAN_BASE;
    }
    let root = tempfile::Builder::new()
        .prefix("stagerun-rootfs")
        .tempdir()
        .unwrap();
    let mirror = std::env::var("STAGERUN_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    let out = Command::new(debootstrap)
        .args(["--variant=minbase", "bookworm"])
        .arg(root.path().join("fs"))
        .arg(&mirror)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "debootstrap bookworm from {mirror}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = Command::new("bash")
        .args([
            "-c",
            "set -o pipefail; tar -C \"$1\" -c . | docker import - \"$2\"",
        ])
        .arg("_")
        .arg(root.path().join("fs"))
        .arg(DEBIAN_BASE)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    DEBIAN_BASE
}

struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.0]);
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The base image, or None (a visible skip) without docker, debootstrap or
/// sshd. Mostly a download: dist.rs runs it while make dist compiles.
pub fn prepare_base() -> Option<&'static str> {
    if !require("docker", crate::common::docker::Engine::Docker.available())
        || !require("debootstrap for the image's base", debootstrap().map(drop))
        || !require("sshd", sshd::available())
    {
        return None;
    }
    Some(debian_base(&debootstrap().unwrap()))
}

pub fn check_image(dist: &Path, work: &Path, base: &str) {
    let image = Image(format!(
        "stagerun-test-image:{}",
        uid("dist").to_lowercase()
    ));
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/image.sh"))
        .env("DIST_DIR", dist)
        .env("IMAGE", &image.0)
        .env("IMAGE_BASE", base)
        .env("IMAGE_CONTEXT", work.join("image-context"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/image.sh: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image.0.as_str();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        docker_ok(&["run", "--rm", img, "stagerun", "--version"]),
        format!("stagerun {version}")
    );
    assert_eq!(
        docker_ok(&["run", "--rm", img, "id", "-u"]),
        IMAGE_UID.to_string()
    );
    assert!(
        docker_ok(&["run", "--rm", img]).contains("Usage: stagerun"),
        "the default command"
    );
    let tools = docker_ok(&[
        "run",
        "--rm",
        img,
        "sh",
        "-c",
        "ssh -V 2>&1; git --version; test -s /etc/ssl/certs/ca-certificates.crt && echo certs",
    ]);
    assert!(
        tools.contains("OpenSSH_") && tools.contains("git version") && tools.ends_with("certs"),
        "{tools}"
    );
    assert_eq!(
        docker_ok(&[
            "image",
            "inspect",
            "--format",
            "{{.Config.User}}|{{index .Config.Labels \"org.opencontainers.image.version\"}}",
            img
        ]),
        format!("{IMAGE_UID}:{IMAGE_UID}|{version}")
    );

    // A checkout owned by someone else (here: root) is usable, as in a GitLab job.
    let sb = Sandbox::new();
    chmod(sb.path(), 0o755);
    let repo = sb.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    assert!(
        Command::new("git")
            .arg("init")
            .arg("-q")
            .arg(&repo)
            .status()
            .unwrap()
            .success()
    );
    let mount = format!("{}:/repo", repo.display());
    docker_ok(&[
        "run",
        "--rm",
        "-v",
        &mount,
        img,
        "git",
        "-C",
        "/repo",
        "status",
        "--porcelain",
    ]);

    run_a_suite_over_ssh(img, &sb);
}

/// stagerun and ssh of the image, as its user, against a real sshd on
/// loopback: the fixture suite runs there (engine none) and the log is written.
fn run_a_suite_over_ssh(img: &str, sb: &Sandbox) {
    let server = Sshd::start();
    let id = uid("ORCH");
    let item = sb.work_item(&id);
    chmod(&item, 0o777); // the log, its temp file and the lock, as user 10001
    chmod(item.parent().unwrap(), 0o755);
    // Copies the image's user can read: the server's own folder is private.
    for f in ["client", "known_hosts"] {
        std::fs::copy(server.path(f), sb.path().join(f)).unwrap();
        chmod(&sb.path().join(f), 0o644);
    }
    sb.write(
        "stagerun.yaml",
        &format!(
            "transport: ssh\nhost: 127.0.0.1\nport: {}\nuser: {}\nidentity_file: {}/client\nknown_hosts: {}/known_hosts\n\
             ssh_config: /dev/null\nconnect_timeout: 5\nengine: none\ncheck_script: {}\npush: false\ntimeout: 60\n",
            server.port,
            Sshd::user(),
            sb.path().display(),
            sb.path().display(),
            check_script().display()
        ),
    );
    let mount = format!("{0}:{0}", sb.path().display());
    let dir = sb.path().display().to_string();
    let item_arg = format!("work-items/{id}");
    let out = docker(&[
        "run",
        "--rm",
        "--network",
        "host",
        "-v",
        &mount,
        "-w",
        &dir,
        img,
        "stagerun",
        "run",
        "--repo",
        "orch-core",
        "--",
        &item_arg,
    ]);
    let text = format!(
        "{}{}\nsshd: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        front(&item, "staging_status").as_deref(),
        Some("SUCCESS"),
        "{text}"
    );
    let log = std::fs::metadata(item.join("15-staging-log.md")).unwrap();
    assert_eq!(
        log.uid(),
        IMAGE_UID,
        "the log was written by the image's user"
    );
    assert!(server.logins() >= 1, "{text}");
}
