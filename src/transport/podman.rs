//! `podman exec [podman_options] CONTAINER …` (rootful or rootless).

use super::{Engine, Step, s, state_judge};
use crate::classify::Class;
use crate::config::{EngineName, Settings};
use crate::error::Result;

pub struct Podman {
    container: String,
    options: Vec<String>,
}

impl Podman {
    pub fn from_settings(st: &Settings) -> Result<Podman> {
        let container = st
            .container
            .as_ref()
            .ok_or_else(|| super::ssh::missing("container", "the podman engine"))?;
        Ok(Podman {
            container: container.0.clone(),
            options: st.podman_options.0.clone(),
        })
    }
}

impl Podman {
    fn exec_argv(&self, flags: &[&str], inner: Vec<String>) -> Vec<String> {
        let mut argv = vec![s("podman"), s("exec")];
        argv.extend(flags.iter().map(|f| s(f)));
        argv.extend(self.options.iter().cloned());
        argv.push(self.container.clone());
        argv.extend(inner);
        argv
    }
}

impl Engine for Podman {
    fn name(&self) -> EngineName {
        EngineName::Podman
    }

    fn exec(&self, inner: Vec<String>) -> Vec<String> {
        self.exec_argv(&[], inner)
    }

    fn exec_with_stdin(&self, inner: Vec<String>) -> Vec<String> {
        self.exec_argv(&["-i"], inner)
    }

    fn preflight(&self) -> Vec<Step> {
        vec![
            Step {
                name: "podman answering",
                argv: vec![
                    s("podman"),
                    s("version"),
                    s("--format"),
                    s("{{.Server.Version}}"),
                ],
                judge: Box::new(|code, out| {
                    if code == 0 {
                        Ok(format!("podman {out}"))
                    } else {
                        Err((
                            Class::TransientInfra,
                            format!("podman version exited {code}"),
                        ))
                    }
                }),
            },
            Step {
                name: "container running",
                argv: vec![
                    s("podman"),
                    s("container"),
                    s("inspect"),
                    s("--format"),
                    s("{{.State.Status}}"),
                    self.container.clone(),
                ],
                judge: state_judge(self.container.clone(), &["restarting", "stopping"]),
            },
        ]
    }
}
