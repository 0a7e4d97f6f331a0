//! The docker-like engines: `docker exec [docker_options] CONTAINER …` and
//! `podman exec [podman_options] CONTAINER …` (rootful or rootless). One
//! engine; what differs between the CLIs is data (`Cli`).

use super::{Engine, Step, s, state_judge};
use crate::classify::Class;
use crate::config::{EngineName, Settings};
use crate::error::Result;

/// What one docker-like CLI needs said differently.
pub struct Cli {
    pub name: EngineName,
    pub program: &'static str,
    /// The words before `--format … CONTAINER` that inspect a container.
    pub inspect: &'static [&'static str],
    /// The preflight step that asks for the server's version.
    pub answering: &'static str,
    /// What that step calls the version (`engine 27.1.1`).
    pub version_word: &'static str,
    /// Container states that may heal (transient), beside not running.
    pub transient_states: &'static [&'static str],
    /// Its `*_options` key.
    pub options: fn(&Settings) -> &[String],
}

pub const DOCKER: Cli = Cli {
    name: EngineName::Docker,
    program: "docker",
    answering: "docker answering",
    inspect: &["inspect", "--type", "container"],
    version_word: "engine",
    transient_states: &["restarting"],
    options: |st| &st.docker_options.0,
};

pub const PODMAN: Cli = Cli {
    name: EngineName::Podman,
    program: "podman",
    answering: "podman answering",
    inspect: &["container", "inspect"],
    version_word: "podman",
    transient_states: &["restarting", "stopping"],
    options: |st| &st.podman_options.0,
};

pub struct Container {
    cli: &'static Cli,
    container: String,
    options: Vec<String>,
}

impl Container {
    pub fn from_settings(cli: &'static Cli, st: &Settings) -> Result<Container> {
        let container = st.container.as_ref().ok_or_else(|| {
            super::ssh::missing("container", &format!("the {} engine", cli.program))
        })?;
        Ok(Container {
            cli,
            container: container.0.clone(),
            options: (cli.options)(st).to_vec(),
        })
    }

    fn exec_argv(&self, flags: &[&str], inner: Vec<String>) -> Vec<String> {
        let mut argv = vec![s(self.cli.program), s("exec")];
        argv.extend(flags.iter().map(|f| s(f)));
        argv.extend(self.options.iter().cloned());
        argv.push(self.container.clone());
        argv.extend(inner);
        argv
    }
}

impl Engine for Container {
    fn name(&self) -> EngineName {
        self.cli.name
    }

    fn exec(&self, inner: Vec<String>) -> Vec<String> {
        self.exec_argv(&[], inner)
    }

    fn exec_with_stdin(&self, inner: Vec<String>) -> Vec<String> {
        self.exec_argv(&["-i"], inner)
    }

    fn preflight(&self) -> Vec<Step> {
        let cli = self.cli;
        let mut inspect = vec![s(cli.program)];
        inspect.extend(cli.inspect.iter().map(|w| s(w)));
        inspect.extend([
            s("--format"),
            s("{{.State.Status}}"),
            self.container.clone(),
        ]);
        vec![
            Step {
                name: cli.answering,
                argv: vec![
                    s(cli.program),
                    s("version"),
                    s("--format"),
                    s("{{.Server.Version}}"),
                ],
                judge: Box::new(move |code, out| {
                    if code == 0 {
                        Ok(format!("{} {out}", cli.version_word))
                    } else {
                        Err((
                            Class::TransientInfra,
                            format!("{} version exited {code}", cli.program),
                        ))
                    }
                }),
            },
            Step {
                name: "container running",
                argv: inspect,
                judge: state_judge(self.container.clone(), cli.transient_states),
            },
        ]
    }
}
