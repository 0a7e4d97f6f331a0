//! Where and how the suite runs: a channel (this machine, or the staging
//! host over ssh) times an engine (docker, podman, kubectl, or none). The
//! engine says how to enter the suite's environment; the channel says where
//! that command runs. `Transport::for_settings` is the one place that maps
//! configuration to a channel and an engine. A docker-like engine is one
//! `Cli` value in container.rs; another kind of engine is a file
//! implementing `Engine` (docs/architecture.md, "Add an engine").

mod container;
mod kubectl;
mod none;
pub mod persist;
pub mod session;
pub mod ssh;
pub mod wrapper;

use crate::classify::Class;
use crate::config::{ChannelName, EngineName, Settings};
use crate::error::Result;
use std::path::Path;

/// A preflight step run through the channel: `argv` at the engine's level,
/// `judge` reads a clean exit (code, trimmed stdout) as ok or a problem.
pub struct Step {
    pub name: &'static str,
    pub argv: Vec<String>,
    pub judge: Judge,
}

pub type Judge = Box<dyn Fn(i32, &str) -> std::result::Result<String, (Class, String)>>;

/// How the suite's environment is entered.
pub trait Engine {
    fn name(&self) -> EngineName;
    /// argv that runs `inner` inside the environment.
    fn exec(&self, inner: Vec<String>) -> Vec<String>;
    /// The same with stdin passed in (the wrapper reads stagerun's
    /// keepalives and receipt there): `exec -i` for the container engines.
    fn exec_with_stdin(&self, inner: Vec<String>) -> Vec<String> {
        self.exec(inner)
    }
    /// Steps that check the engine itself (before the in-environment ones).
    fn preflight(&self) -> Vec<Step>;
}

#[derive(Debug, Clone)]
pub enum Channel {
    Local,
    Ssh(ssh::Ssh),
}

impl Channel {
    pub fn name(&self) -> ChannelName {
        match self {
            Channel::Local => ChannelName::Local,
            Channel::Ssh(_) => ChannelName::Ssh,
        }
    }
}

pub struct Transport {
    pub channel: Channel,
    pub engine: Box<dyn Engine>,
}

impl Transport {
    /// The channel and engine the settings ask for (`Settings::placement`);
    /// every value they use is validated by its type, and `config::resolve`
    /// has reported the required ones missing (the engines check again).
    pub fn for_settings(s: &Settings) -> Result<Transport> {
        let placement = s.placement()?;
        let engine: Box<dyn Engine> = match placement.engine {
            EngineName::Docker => {
                Box::new(container::Container::from_settings(&container::DOCKER, s)?)
            }
            EngineName::Podman => {
                Box::new(container::Container::from_settings(&container::PODMAN, s)?)
            }
            EngineName::Kubectl => Box::new(kubectl::Kubectl::from_settings(s)?),
            EngineName::None => Box::new(none::NoEngine),
        };
        let channel = match placement.channel {
            ChannelName::Ssh => Channel::Ssh(ssh::Ssh::from_settings(s)?),
            ChannelName::Local => Channel::Local,
        };
        Ok(Transport { channel, engine })
    }

    /// Everything but a local run without an engine goes through the wrapper.
    pub fn wrapped(&self) -> bool {
        matches!(self.channel, Channel::Ssh(_)) || self.engine.name() != EngineName::None
    }

    /// `ssh+docker`, `local+none`, …
    pub fn label(&self) -> String {
        format!("{}+{}", self.channel.name(), self.engine.name())
    }

    /// The argv that runs `cmd` in the suite's environment.
    pub fn argv(&self, cmd: Vec<String>, control: Option<&Path>) -> Result<Vec<String>> {
        let cmd = self.engine.exec(cmd);
        match &self.channel {
            Channel::Local => Ok(cmd),
            Channel::Ssh(ssh) => ssh.argv(&cmd, control),
        }
    }

    /// `argv` with stdin passed through to `cmd` (the wrapper's run and follow).
    pub fn argv_with_stdin(&self, cmd: Vec<String>, control: Option<&Path>) -> Result<Vec<String>> {
        let cmd = self.engine.exec_with_stdin(cmd);
        match &self.channel {
            Channel::Local => Ok(cmd),
            Channel::Ssh(ssh) => ssh.argv(&cmd, control),
        }
    }

    /// The argv that runs `cmd` where the engine runs (no engine around it).
    pub fn host_argv(&self, cmd: Vec<String>, control: Option<&Path>) -> Result<Vec<String>> {
        match &self.channel {
            Channel::Local => Ok(cmd),
            Channel::Ssh(ssh) => ssh.argv(&cmd, control),
        }
    }

    pub fn ssh(&self) -> Option<&ssh::Ssh> {
        match &self.channel {
            Channel::Ssh(s) => Some(s),
            Channel::Local => None,
        }
    }
}

/// A shell-pasteable rendering of an argv, for logs and `--dry-run`.
pub fn display_argv(argv: &[String]) -> String {
    shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| format!("{argv:?}"))
}

fn s(v: &str) -> String {
    v.to_string()
}

/// A step reading a container/pod state word: running is fine, a healing
/// state is transient, anything else permanent.
fn state_judge(what: String, healing: &'static [&'static str]) -> Judge {
    Box::new(move |code, out| match (code, out) {
        (0, "running" | "Running" | "true") => Ok(format!("{what} is running")),
        (0, state) if healing.contains(&state) => {
            Err((Class::TransientInfra, format!("{what} is {state}")))
        }
        (0, "") => Err((Class::PermanentEnv, format!("{what}: no state reported"))),
        (0, state) => Err((
            Class::PermanentEnv,
            format!("{what} is {state}, not running"),
        )),
        (code, _) => Err((Class::PermanentEnv, format!("state query exited {code}"))),
    })
}

/// Steps run inside the suite's environment, the same for every engine.
/// Each script answers with a word and exits 0, so a clean exit without
/// the word (an engine client stopped mid-step exits 0 too) or any other
/// exit is never read as an answer about the environment.
pub fn environment_steps(t: &Transport, st: &Settings) -> Vec<Step> {
    // Tested values are positional parameters, never spliced into the script.
    let sh_test =
        |test: &str, arg: &str| vec![s("sh"), s("-c"), s(test), s("stagerun-preflight"), s(arg)];
    let mut steps = Vec::new();
    let py = st.python.0.clone();
    steps.push(Step {
        name: "interpreter present",
        argv: t.engine.exec(sh_test(
            r#"if command -v "$1" >/dev/null 2>&1; then echo found; else echo missing; fi"#,
            &py,
        )),
        judge: answer(move |word| match word {
            "found" => Some(Ok(format!("{py} found"))),
            "missing" => Some(Err(format!("interpreter `{py}` not found"))),
            _ => None,
        }),
    });
    let script = st.check_script.0.clone();
    steps.push(Step {
        name: "check script present",
        argv: t.engine.exec(sh_test(
            r#"if [ -d "$1" ]; then echo folder; elif [ -f "$1" ]; then echo file; else echo missing; fi"#,
            &script,
        )),
        judge: answer(move |word| match word {
            "file" => Some(Ok(format!("{script} exists"))),
            "folder" => Some(Err(format!(
                "check script `{script}` is a folder, not the suite's file"
            ))),
            "missing" => Some(Err(format!("check script `{script}` not found"))),
            _ => None,
        }),
    });
    if t.wrapped() {
        let dir = st.remote_state_dir.0.clone();
        steps.push(Step {
            name: "lock folder writable",
            argv: t.engine.exec(sh_test(
                r#"if mkdir -p "$1" 2>/dev/null && [ -w "$1" ]; then echo writable; else echo denied; fi"#,
                &dir,
            )),
            judge: answer(move |word| match word {
                "writable" => Some(Ok(format!("{dir} writable"))),
                "denied" => Some(Err(format!(
                    "`remote_state_dir` {dir} is not writable"
                ))),
                _ => None,
            }),
        });
    }
    steps
}

/// A judge for a script that answers with one word: a known word is the
/// answer (a problem is permanent); no word, or a failed exit, means the
/// step did not run to its end, which says nothing about the environment.
fn answer(read: impl Fn(&str) -> Option<std::result::Result<String, String>> + 'static) -> Judge {
    Box::new(move |code, out| match (code, read(out)) {
        (0, Some(Ok(fine))) => Ok(fine),
        (0, Some(Err(problem))) => Err((Class::PermanentEnv, problem)),
        (0, None) => Err((
            Class::TransientInfra,
            "the step exited 0 without its answer: it did not run to its end".into(),
        )),
        (code, _) => Err((
            Class::TransientInfra,
            format!("the step exited {code} without its answer"),
        )),
    })
}
