//! Containers on a real engine (docker or podman) from an image built here
//! without any registry: a minimal rootfs (links to /usr, the fixture suite
//! under /staging) imported with `docker import` / `podman import`;
//! containers bind-mount the host's /usr read-only so python3, sh and
//! setsid run inside them, and have no network.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub const SCRIPT_IN_CONTAINER: &str = "/staging/staging_check.py";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Docker,
    Podman,
}

impl Engine {
    pub fn program(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
        }
    }

    pub fn available(self) -> Result<(), String> {
        let args: &[&str] = match self {
            Engine::Docker => &["version", "--format", "{{.Server.Version}}"],
            Engine::Podman => &["version", "--format", "{{.Version}}"],
        };
        let out = Command::new(self.program())
            .args(args)
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("{} CLI not runnable: {e}", self.program()))?;
        if !out.status.success() {
            return Err(format!(
                "{} not answering: {}",
                self.program(),
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

    fn run(self, args: &[&str]) -> String {
        let out = Command::new(self.program())
            .args(args)
            .output()
            .expect("engine runs");
        assert!(
            out.status.success(),
            "{} {args:?}: {}",
            self.program(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The image tag; built once per test binary and engine.
    pub fn image(self) -> &'static str {
        static DOCKER: OnceLock<String> = OnceLock::new();
        static PODMAN: OnceLock<String> = OnceLock::new();
        let cell = match self {
            Engine::Docker => &DOCKER,
            Engine::Podman => &PODMAN,
        };
        cell.get_or_init(|| self.build_image())
    }

    fn build_image(self) -> String {
        let script = std::fs::read(super::check_script()).unwrap();
        let hash = script.iter().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ *b as u64).wrapping_mul(0x100000001b3)
        });
        let tag = format!("localhost/stagerun-e2e:{hash:016x}");
        let exists = Command::new(self.program())
            .args(["image", "inspect", &tag])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        if exists {
            return tag;
        }
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for d in [
            "etc", "tmp", "proc", "sys", "dev", "staging", "root", "usr", "pylib",
        ] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(r.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
        for (link, target) in [
            ("bin", "usr/bin"),
            ("lib", "usr/lib"),
            ("lib64", "usr/lib64"),
            ("sbin", "usr/sbin"),
        ] {
            std::os::unix::fs::symlink(target, r.join(link)).unwrap();
        }
        std::fs::write(
            r.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(r.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
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
        self.run(&["import", tar.to_str().unwrap(), &tag]);
        let _ = std::fs::remove_file(&tar);
        tag
    }
}

pub struct Container {
    pub engine: Engine,
    pub name: String,
}

/// What a test container looks like beyond the defaults.
#[derive(Default)]
pub struct Spec {
    pub env: Vec<(String, String)>,
    /// host path → container path, read-only.
    pub mounts: Vec<(String, String)>,
    /// Programs hidden inside the container (bind-mount /dev/null over them).
    pub hide: Vec<&'static str>,
    /// The host's program mounted as the container's /bin/sh.
    pub sh: Option<&'static str>,
    /// An image of busybox alone (its binary, its libc, an applet link each):
    /// no /usr from the host, no python.
    pub busybox_only: bool,
}

impl Spec {
    pub fn scenario(s: &str) -> Spec {
        Spec {
            env: vec![("STAGING_CHECK_SCENARIO".into(), s.into())],
            ..Spec::default()
        }
    }
    pub fn env(mut self, k: &str, v: &str) -> Spec {
        self.env.push((k.into(), v.into()));
        self
    }
    pub fn mount(mut self, host: &str, inside: &str) -> Spec {
        self.mounts.push((host.into(), inside.into()));
        self
    }
    pub fn hide(mut self, program: &'static str) -> Spec {
        self.hide.push(program);
        self
    }
    pub fn sh(mut self, program: &'static str) -> Spec {
        self.sh = Some(program);
        self
    }
    pub fn busybox_only(mut self) -> Spec {
        self.busybox_only = true;
        self
    }
}

/// A busybox-only image, built once per engine: /bin/busybox, the libraries
/// it links, and a link per applet.
fn busybox_image(engine: Engine) -> &'static str {
    static DOCKER: OnceLock<String> = OnceLock::new();
    static PODMAN: OnceLock<String> = OnceLock::new();
    let cell = match engine {
        Engine::Docker => &DOCKER,
        Engine::Podman => &PODMAN,
    };
    cell.get_or_init(|| {
        let tag = "localhost/stagerun-e2e-busybox:1".to_string();
        let exists = Command::new(engine.program())
            .args(["image", "inspect", &tag])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if exists {
            return tag;
        }
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "root", "suites"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(r.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
        std::fs::copy("/usr/bin/busybox", r.join("bin/busybox")).unwrap();
        let ldd = Command::new("ldd")
            .arg("/usr/bin/busybox")
            .output()
            .unwrap();
        for lib in String::from_utf8_lossy(&ldd.stdout)
            .split_whitespace()
            .filter(|w| w.starts_with('/'))
        {
            let inside = r.join(lib.trim_start_matches('/'));
            std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
            std::fs::copy(lib, &inside).unwrap();
        }
        let list = Command::new("/usr/bin/busybox")
            .arg("--list")
            .output()
            .unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
            if applet != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", r.join("bin").join(applet));
            }
        }
        std::fs::write(r.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
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
        engine.run(&["import", tar.to_str().unwrap(), &tag]);
        let _ = std::fs::remove_file(&tar);
        tag
    })
}

impl Container {
    pub fn start(engine: Engine, spec: Spec) -> Container {
        let name = format!(
            "stagerun-e2e-{}-{}",
            std::process::id(),
            super::uid("C").to_lowercase()
        );
        let mut args: Vec<String> = vec![
            "run".into(),
            "-d".into(),
            "--name".into(),
            name.clone(),
            "--network".into(),
            "none".into(),
        ];
        if engine == Engine::Podman {
            // Without explicit limits runc fails here: "error setting rlimit type 7".
            args.extend(
                [
                    "--ulimit",
                    "nofile=1024:1024",
                    "--ulimit",
                    "nproc=1024:1024",
                ]
                .map(String::from),
            );
        }
        if !spec.busybox_only {
            args.extend(["-v".into(), "/usr:/usr:ro".into()]);
        }
        if let Some(sh) = spec.sh {
            args.extend(["-v".into(), format!("{sh}:/usr/bin/sh:ro")]);
        }
        for (host, inside) in &spec.mounts {
            args.extend(["-v".into(), format!("{host}:{inside}:ro")]);
        }
        for program in &spec.hide {
            args.extend(["-v".into(), format!("/dev/null:{program}:ro")]);
        }
        args.extend(["-e".into(), "PYTHONDONTWRITEBYTECODE=1".into()]);
        for (k, v) in &spec.env {
            args.extend(["-e".into(), format!("{k}={v}")]);
        }
        if spec.busybox_only {
            args.push(busybox_image(engine).into());
            args.extend(["/bin/sleep".into(), "infinity".into()]);
        } else {
            args.push(engine.image().into());
            args.extend(["/usr/bin/sleep".into(), "infinity".into()]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        engine.run(&refs);
        Container { engine, name }
    }
    pub fn docker(scenario: &str) -> Container {
        Container::start(Engine::Docker, Spec::scenario(scenario))
    }
    pub fn kill(&self) {
        self.engine.run(&["kill", &self.name]);
    }
    pub fn stop(&self) {
        self.engine.run(&["stop", "-t", "0", &self.name]);
    }
    /// Its processes killed and the container started again, its file
    /// system kept (what a host reboot or an OOM-killed PID 1 does).
    pub fn restart(&self) {
        self.engine.run(&["restart", "-t", "0", &self.name]);
    }
    pub fn pause(&self) {
        self.engine.run(&["pause", &self.name]);
    }
    /// Runs a command in the container; its stdout.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut all = vec!["exec", self.name.as_str()];
        all.extend(args);
        let out = Command::new(self.engine.program())
            .args(&all)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    /// Processes in the container whose command line contains `needle`,
    /// read from the container's own /proc (no ps in the image).
    pub fn processes_matching(&self, needle: &str) -> Vec<String> {
        let script = r#"for p in /proc/[0-9]*; do c=$(tr '\0\n' '  ' < $p/cmdline 2>/dev/null) || continue; s=$(cut -d' ' -f3 $p/stat 2>/dev/null); [ "$s" = Z ] && continue; case "$c" in *"$1"*) echo "${p#/proc/} $c";; esac; done"#;
        self.exec(&["sh", "-c", script, "ps", needle])
            .lines()
            .filter(|l| {
                !l.contains("/proc/[0-9]") && !l.contains(" ps ") && !l.contains("sh -c for p in")
            })
            .map(str::to_string)
            .collect()
    }
    /// Waits until nothing in the container matches `needle`.
    pub fn none_left(&self, needle: &str, limit: std::time::Duration) -> Vec<String> {
        let until = std::time::Instant::now() + limit;
        loop {
            let left = self.processes_matching(needle);
            if left.is_empty() || std::time::Instant::now() >= until {
                return left;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new(self.engine.program())
            .args(["rm", "-f", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The e2e tests' readiness: sshd and the engine, or a visible skip.
pub fn ready(engine: Engine) -> bool {
    super::require("sshd", super::sshd::available())
        && super::require(engine.program(), engine.available())
}
