//! `kubectl exec [--context CTX] [-n NS] POD -c CONTAINER -- …`, from this
//! machine or a bastion over ssh. The container is required: without `-c`
//! kubectl picks one itself and says "Defaulted container …".
//! Verified against recorded kubectl messages, not a live cluster
//! (docs/transports.md).

use super::{Engine, Step, s};
use crate::classify::Class;
use crate::config::{EngineName, Settings};
use crate::error::Result;

pub struct Kubectl {
    context: Option<String>,
    namespace: Option<String>,
    pod: String,
    container: String,
}

impl Kubectl {
    pub fn from_settings(st: &Settings) -> Result<Kubectl> {
        let pod = st
            .pod
            .as_ref()
            .ok_or_else(|| super::ssh::missing("pod", "the kubectl engine"))?;
        let container = st.container.as_ref().ok_or_else(|| {
            super::ssh::missing(
                "container",
                "the kubectl engine (its -c; kubectl would otherwise pick one)",
            )
        })?;
        Ok(Kubectl {
            context: st.kube_context.as_ref().map(|c| c.0.clone()),
            namespace: st.namespace.as_ref().map(|n| n.0.clone()),
            pod: pod.0.clone(),
            container: container.0.clone(),
        })
    }

    /// `kubectl [--context C] [-n NS]`
    fn base(&self) -> Vec<String> {
        let mut argv = vec![s("kubectl")];
        if let Some(c) = &self.context {
            argv.extend([s("--context"), c.clone()]);
        }
        if let Some(n) = &self.namespace {
            argv.extend([s("-n"), n.clone()]);
        }
        argv
    }

    fn context_step(&self) -> Step {
        let mut context = vec![s("kubectl"), s("config")];
        match &self.context {
            Some(c) => context.extend([s("get-contexts"), s("-o"), s("name"), c.clone()]),
            None => context.push(s("current-context")),
        }
        Step {
            name: "kube context",
            argv: context,
            judge: Box::new(|code, out| {
                if code == 0 && !out.is_empty() {
                    Ok(format!("context {out}"))
                } else {
                    Err((Class::PermanentEnv, "no usable kubeconfig context".into()))
                }
            }),
        }
    }

    fn exec_argv(&self, stdin: bool, inner: Vec<String>) -> Vec<String> {
        let mut argv = self.base();
        argv.push(s("exec"));
        if stdin {
            argv.push(s("-i"));
        }
        argv.extend([s(&self.pod), s("-c"), s(&self.container), s("--")]);
        argv.extend(inner);
        argv
    }

    fn exec_allowed_step(&self) -> Step {
        let mut can_i = self.base();
        can_i.extend([s("auth"), s("can-i"), s("create"), s("pods/exec")]);
        Step {
            name: "may exec into pods",
            argv: can_i,
            judge: Box::new(|code, out| match (code, out) {
                (0, "yes") => Ok("pods/exec allowed".into()),
                (_, "no") => Err((Class::PermanentEnv, "RBAC forbids create pods/exec".into())),
                (code, _) => Err((
                    Class::PermanentEnv,
                    format!("kubectl auth can-i exited {code}"),
                )),
            }),
        }
    }

    fn pod_running_step(&self) -> Step {
        let mut phase = self.base();
        phase.extend([
            s("get"),
            s("pod"),
            self.pod.clone(),
            s("-o"),
            s("jsonpath={.status.phase}"),
        ]);
        let pod = self.pod.clone();
        Step {
            name: "pod running",
            argv: phase,
            judge: Box::new(move |code, out| match (code, out) {
                (0, "Running") => Ok(format!("{pod} is Running")),
                (0, "Pending") => Err((Class::TransientInfra, format!("{pod} is Pending"))),
                (0, phase) => Err((
                    Class::PermanentEnv,
                    format!("{pod} is {phase}, not Running"),
                )),
                (code, _) => Err((
                    Class::PermanentEnv,
                    format!("kubectl get pod exited {code}"),
                )),
            }),
        }
    }

    fn container_ready_step(&self) -> Step {
        let mut ready = self.base();
        ready.extend([
            s("get"),
            s("pod"),
            self.pod.clone(),
            s("-o"),
            format!(
                "jsonpath={{.status.containerStatuses[?(@.name==\"{}\")].ready}}",
                self.container
            ),
        ]);
        let container = self.container.clone();
        Step {
            name: "container ready",
            argv: ready,
            judge: Box::new(move |code, out| match (code, out) {
                (0, "true") => Ok(format!("{container} is ready")),
                (0, "false") => Err((Class::TransientInfra, format!("{container} is not ready"))),
                (0, _) => Err((
                    Class::PermanentEnv,
                    format!("container `{container}` is not in the pod"),
                )),
                (code, _) => Err((
                    Class::PermanentEnv,
                    format!("kubectl get pod exited {code}"),
                )),
            }),
        }
    }
}

impl Engine for Kubectl {
    fn name(&self) -> EngineName {
        EngineName::Kubectl
    }

    fn exec(&self, inner: Vec<String>) -> Vec<String> {
        self.exec_argv(false, inner)
    }

    fn exec_with_stdin(&self, inner: Vec<String>) -> Vec<String> {
        self.exec_argv(true, inner)
    }

    fn preflight(&self) -> Vec<Step> {
        vec![
            self.context_step(),
            self.exec_allowed_step(),
            self.pod_running_step(),
            self.container_ready_step(),
        ]
    }
}
