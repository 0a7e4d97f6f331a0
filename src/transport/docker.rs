//! `docker exec [docker_options] CONTAINER …`

use super::{Engine, Step, s, state_judge};
use crate::classify::Class;
use crate::config::{EngineName, Settings};
use crate::error::Result;

pub struct Docker {
    container: String,
    options: Vec<String>,
}

impl Docker {
    pub fn from_settings(st: &Settings) -> Result<Docker> {
        let container = st
            .container
            .as_ref()
            .ok_or_else(|| super::ssh::missing("container", "the docker engine"))?;
        Ok(Docker {
            container: container.0.clone(),
            options: st.docker_options.0.clone(),
        })
    }
}

impl Docker {
    fn exec_argv(&self, flags: &[&str], inner: Vec<String>) -> Vec<String> {
        let mut argv = vec![s("docker"), s("exec")];
        argv.extend(flags.iter().map(|f| s(f)));
        argv.extend(self.options.iter().cloned());
        argv.push(self.container.clone());
        argv.extend(inner);
        argv
    }
}

impl Engine for Docker {
    fn name(&self) -> EngineName {
        EngineName::Docker
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
                name: "docker answering",
                argv: vec![
                    s("docker"),
                    s("version"),
                    s("--format"),
                    s("{{.Server.Version}}"),
                ],
                judge: Box::new(|code, out| {
                    if code == 0 {
                        Ok(format!("engine {out}"))
                    } else {
                        Err((
                            Class::TransientInfra,
                            format!("docker version exited {code}"),
                        ))
                    }
                }),
            },
            Step {
                name: "container running",
                argv: vec![
                    s("docker"),
                    s("inspect"),
                    s("--type"),
                    s("container"),
                    s("--format"),
                    s("{{.State.Status}}"),
                    self.container.clone(),
                ],
                judge: state_judge(self.container.clone(), &["restarting"]),
            },
        ]
    }
}
