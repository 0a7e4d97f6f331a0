//! A real OpenSSH server on 127.0.0.1 with its own host key, authorized
//! keys and known_hosts, started per test and killed on drop.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "stagerun-test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs")
        .success();
    assert!(ok, "ssh-keygen failed");
}

fn pub_key(path: &Path) -> String {
    let text = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn available() -> Result<(), String> {
    if !Path::new(SSHD).exists() {
        return Err(format!(
            "{SSHD} not installed (apt-get install openssh-server)"
        ));
    }
    if Command::new("ssh").arg("-V").output().is_err() {
        return Err("ssh client not installed".into());
    }
    Ok(())
}

impl Sshd {
    /// Keys: `client` (authorized), `wrong` (not authorized), `nodocker`
    /// (authorized with a PATH that has no docker), `other_host` (a host key
    /// the server does not use).
    pub fn start() -> Sshd {
        Self::start_in("stagerun-sshd")
    }

    /// With a space in its folder's name (known_hosts, keys): ssh must get
    /// the paths whole.
    pub fn start_in(prefix: &str) -> Sshd {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
        let d = dir.path();
        for k in [
            "host",
            "client",
            "wrong",
            "nodocker",
            "other_host",
            "forced",
        ] {
            keygen(&d.join(k));
        }
        // `forced`: a restricted deploy key whose forced command ignores
        // what the client asks for and exits 0.
        std::fs::write(
            d.join("authorized_keys"),
            format!(
                "{}\nenvironment=\"PATH=/nonexistent\" {}\ncommand=\"echo restricted key\" {}\n",
                pub_key(&d.join("client")),
                pub_key(&d.join("nodocker")),
                pub_key(&d.join("forced"))
            ),
        )
        .unwrap();
        let port = free_port();
        std::fs::write(
            d.join("known_hosts"),
            format!("[127.0.0.1]:{port} {}\n", pub_key(&d.join("host"))),
        )
        .unwrap();
        std::fs::write(
            d.join("known_hosts_changed"),
            format!("[127.0.0.1]:{port} {}\n", pub_key(&d.join("other_host"))),
        )
        .unwrap();
        std::fs::write(d.join("known_hosts_empty"), "").unwrap();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey \"{host}\"\nAuthorizedKeysFile \"{d}/authorized_keys\"\n\
             PidFile \"{d}/sshd.pid\"\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nPermitUserEnvironment yes\n\
             MaxStartups 100\nLogLevel VERBOSE\n",
            host = d.join("host").display(),
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        std::fs::create_dir_all("/run/sshd").ok();
        let mut sshd = Sshd {
            port,
            child: None,
            dir,
        };
        sshd.spawn();
        sshd
    }

    fn spawn(&mut self) {
        let d = self.dir.path();
        let child = Command::new(SSHD)
            .args(["-D", "-f"])
            .arg(d.join("sshd_config"))
            .arg("-E")
            .arg(d.join("sshd.log"))
            .stdin(Stdio::null())
            .spawn()
            .expect("sshd starts");
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("sshd did not listen on {}: {}", self.port, self.log());
    }

    /// The listener again, on the same port (after `stop`).
    pub fn restart(&mut self) {
        self.spawn();
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Let the listening socket go away.
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until && TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("sshd.log")).unwrap_or_default()
    }

    /// Successful authentications so far.
    pub fn logins(&self) -> usize {
        self.log().matches("Accepted publickey").count()
    }

    /// Refused authentications so far (a wrong key).
    pub fn refused(&self) -> usize {
        self.log().matches("Failed publickey").count()
    }

    /// The sshd processes serving connections (the listener's descendants
    /// named sshd): killing them drops the connection, stopping them
    /// stalls it, whatever runs under them.
    pub fn session_pids(&self) -> Vec<i32> {
        let Some(listener) = self.child.as_ref().map(|c| c.id() as i32) else {
            return Vec::new();
        };
        let mut parents: std::collections::HashMap<i32, (i32, String)> =
            std::collections::HashMap::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let comm = stat[open + 1..close].to_string();
            let ppid: i32 = stat[close + 1..]
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            parents.insert(pid, (ppid, comm));
        }
        let descends = |mut pid: i32| {
            for _ in 0..16 {
                match parents.get(&pid) {
                    Some((ppid, _)) if *ppid == listener => return true,
                    Some((ppid, _)) => pid = *ppid,
                    None => return false,
                }
            }
            false
        };
        parents
            .iter()
            .filter(|(pid, (_, comm))| comm == "sshd" && **pid != listener && descends(**pid))
            .map(|(pid, _)| *pid)
            .collect()
    }

    pub fn signal_sessions(&self, sig: i32) -> usize {
        let pids = self.session_pids();
        for p in &pids {
            // SAFETY: signalling test processes we started.
            unsafe {
                libc::kill(*p, sig);
            }
        }
        pids.len()
    }

    pub fn user() -> String {
        std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| {
                String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
                    .unwrap()
                    .trim()
                    .to_string()
            })
    }

    /// stagerun.yaml lines for this server.
    pub fn config(&self, key: &str, known_hosts: &str) -> String {
        format!(
            "transport: ssh\nhost: 127.0.0.1\nport: {}\nuser: {}\nidentity_file: \"{}\"\nknown_hosts: \"{}\"\nssh_config: /dev/null\nconnect_timeout: 5\n",
            self.port,
            Self::user(),
            self.path(key).display(),
            self.path(known_hosts).display()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP listener on loopback that accepts and never says anything: an
/// sshd that stalls before its banner.
pub struct Mute {
    pub port: u16,
    _listener: TcpListener,
    _held: std::sync::Arc<std::sync::Mutex<Vec<TcpStream>>>,
}

impl Mute {
    pub fn start() -> Mute {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let l2 = listener.try_clone().unwrap();
        let h2 = held.clone();
        std::thread::spawn(move || {
            for s in l2.incoming().flatten() {
                h2.lock().unwrap().push(s);
            }
        });
        Mute {
            port,
            _listener: listener,
            _held: held,
        }
    }
}
