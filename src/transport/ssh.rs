//! The ssh channel: options that never prompt and never accept an unknown
//! host key, one quoted command string for the remote shell, and the master
//! connection (session) that serves every command of an invocation.

use crate::config::Settings;
use crate::error::{Error, Result};
use std::path::Path;

#[derive(Debug, Clone)]
pub struct Ssh {
    pub host: String,
    pub user: Option<String>,
    pub port: Option<u16>,
    options: Vec<String>,
    pub connect_timeout: std::time::Duration,
}

/// ssh expands `%` tokens in file names: a literal `%` must be doubled.
fn ssh_file(p: &Path) -> String {
    p.display().to_string().replace('%', "%%")
}

/// A file name in an `-o Key=value` option, which ssh's config parser
/// splits at spaces unless quoted.
fn ssh_option_file(key: &str, p: &Path) -> Result<String> {
    let escaped = ssh_file(p);
    if escaped.contains('"') {
        return Err(Error::Config(format!(
            "`{key}` path {escaped:?} contains a double quote, which ssh cannot take"
        )));
    }
    Ok(if escaped.chars().any(char::is_whitespace) {
        format!("\"{escaped}\"")
    } else {
        escaped
    })
}

impl Ssh {
    pub fn from_settings(s: &Settings) -> Result<Ssh> {
        let host = s.host.as_ref().ok_or_else(|| missing("host", "ssh"))?;
        let mut argv: Vec<String> = Vec::new();
        if let Some(cfg) = &s.ssh_config {
            argv.extend(["-F".into(), cfg.0.display().to_string()]);
        }
        let mut opt = |o: String| argv.extend(["-o".into(), o]);
        // BatchMode: never a password or passphrase prompt; StrictHostKeyChecking:
        // never a silently accepted host key.
        opt("BatchMode=yes".into());
        opt("StrictHostKeyChecking=yes".into());
        opt(format!(
            "ConnectTimeout={}",
            s.connect_timeout.0.as_secs().max(1)
        ));
        opt(format!(
            "ServerAliveInterval={}",
            s.server_alive_interval.0.as_secs().max(1)
        ));
        opt("ServerAliveCountMax=3".into());
        if let Some(kh) = &s.known_hosts {
            opt(format!(
                "UserKnownHostsFile={}",
                ssh_option_file("known_hosts", &kh.0)?
            ));
        }
        for extra in &s.ssh_options.0 {
            opt(extra.clone());
        }
        // IdentityFile, not -i: ssh checks an -i path before it expands
        // `%%`, and silently drops a key it cannot find under that name.
        if let Some(id) = &s.identity_file {
            argv.extend([
                "-o".into(),
                "IdentitiesOnly=yes".into(),
                "-o".into(),
                format!("IdentityFile={}", ssh_option_file("identity_file", &id.0)?),
            ]);
        }
        Ok(Ssh {
            host: host.0.clone(),
            user: s.user.as_ref().map(|u| u.0.clone()),
            port: s.port.map(|p| p.0),
            options: argv,
            connect_timeout: s.connect_timeout.0,
        })
    }

    /// `ssh OPTIONS [extra] [-p P] [-l U] -- HOST`
    pub fn base(&self, extra: &[String]) -> Vec<String> {
        let mut argv = vec!["ssh".to_string()];
        argv.extend(self.options.iter().cloned());
        argv.extend(extra.iter().cloned());
        if let Some(p) = self.port {
            argv.extend(["-p".into(), p.to_string()]);
        }
        if let Some(u) = &self.user {
            argv.extend(["-l".into(), u.clone()]);
        }
        argv.push("--".into());
        argv.push(self.host.clone());
        argv
    }

    /// Runs `cmd` on the host, through the session's master when given.
    pub fn argv(&self, cmd: &[String], control: Option<&Path>) -> Result<Vec<String>> {
        let extra = match control {
            Some(p) => vec![
                "-o".to_string(),
                format!("ControlPath={}", p.display()),
                "-o".into(),
                "ControlMaster=no".into(),
            ],
            None => Vec::new(),
        };
        let mut argv = self.base(&extra);
        argv.push(remote_command(cmd)?);
        Ok(argv)
    }

    /// `user@host:port` for messages.
    pub fn target(&self) -> String {
        let mut t = String::new();
        if let Some(u) = &self.user {
            t.push_str(u);
            t.push('@');
        }
        t.push_str(&self.host);
        if let Some(p) = self.port {
            t.push_str(&format!(":{p}"));
        }
        t
    }

    /// What distinguishes one ssh identity from another, for a shared
    /// master's socket name: never share between keys or known_hosts.
    pub fn fingerprint(&self) -> String {
        let mut h: u64 = 0xcbf29ce484222325;
        for part in self.base(&[]) {
            for b in part.bytes().chain(std::iter::once(0)) {
                h = (h ^ b as u64).wrapping_mul(0x100000001b3);
            }
        }
        format!("{h:016x}")
    }
}

/// One POSIX-quoted command string for the remote login shell.
pub fn remote_command(parts: &[String]) -> Result<String> {
    shlex::try_join(parts.iter().map(String::as_str))
        .map_err(|e| Error::Config(format!("cannot quote the remote command: {e}")))
}

/// A required value no layer set (`config::resolve` reports these first,
/// all at once; this is the engines' own check, in the same words).
pub fn missing(key: &str, what: &str) -> Error {
    crate::config::not_set(key, what, crate::config::takes::RUN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_options_survive_spaces_and_percent() {
        assert_eq!(
            ssh_option_file("k", Path::new("/a b/%h")).unwrap(),
            "\"/a b/%%h\""
        );
        assert_eq!(ssh_option_file("k", Path::new("/plain")).unwrap(), "/plain");
        assert!(ssh_option_file("k", Path::new("/a\"b")).is_err());
        assert_eq!(ssh_file(Path::new("/a b/%h")), "/a b/%%h");
    }
}

/// For arbitrary strings, the argv a POSIX shell on the staging host parses
/// from our remote command is exactly the intended argv: nothing escapes
/// quoting. Checked through real `sh -c` (dash) and bash.
#[cfg(test)]
mod quoting {
    use super::remote_command;
    use proptest::prelude::*;
    use std::process::Command;

    fn round_trip(shell: &str, args: &[String]) -> Vec<String> {
        let mut parts = vec!["printf".to_string(), "%s\\0".to_string()];
        parts.extend(args.iter().cloned());
        let remote = remote_command(&parts).expect("quotable");
        let out = Command::new(shell).args(["-c", &remote]).output().unwrap();
        assert!(
            out.status.success(),
            "{shell} -c {remote:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut got: Vec<String> = out
            .stdout
            .split(|b| *b == 0)
            .map(|s| String::from_utf8(s.to_vec()).unwrap())
            .collect();
        got.pop();
        got
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn shell_receives_exactly_our_argv(args in proptest::collection::vec("[^\u{0}]{0,24}", 1..5)) {
            for shell in ["sh", "bash"] {
                prop_assert_eq!(round_trip(shell, &args), args.clone());
            }
        }

        #[test]
        fn shell_metacharacters_stay_data(args in proptest::collection::vec(r#"[-;&|<>()$`\\"' \t\n*?\[\]#~=%!{}a-z]{0,16}"#, 1..6)) {
            for shell in ["sh", "bash"] {
                prop_assert_eq!(round_trip(shell, &args), args.clone());
            }
        }
    }

    #[test]
    fn nul_is_refused_not_sent() {
        assert!(remote_command(&["echo".to_string(), "a\0b".to_string()]).is_err());
    }
}
