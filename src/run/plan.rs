//! The plan of a run, built once before anything runs: settings, the work
//! item, the transport, the suite's command, the rules.

use crate::classify::RulesHandle;
use crate::config::{self, Settings};
use crate::error::Result;
use crate::transport::{Transport, display_argv, wrapper};
use crate::workitem::WorkItem;
use std::time::{Duration, Instant};

pub struct Plan {
    pub settings: Settings,
    pub item: WorkItem,
    pub transport: Transport,
    pub rules: RulesHandle,
    /// The suite's own argv, as the interpreter sees it.
    pub suite: Vec<String>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub clock: Instant,
    /// The whole run's deadline, if one is set.
    pub deadline: Option<Instant>,
    pub json: bool,
    pub quiet: bool,
}

/// How the run reports, from its own flags (not settings).
pub struct Outputs {
    pub json: bool,
    pub quiet: bool,
}

/// A check script run on this machine is a local path: relative to the
/// config file that names it, like every other path there.
fn local_script(s: &Settings, t: &Transport) -> String {
    let script = &s.check_script.0;
    let local = matches!(t.channel, crate::transport::Channel::Local) && !t.wrapped();
    match (local, s.source_of("check_script"), &s.config_file) {
        (true, config::Source::File { .. }, Some(file))
            if std::path::Path::new(script).is_relative() =>
        {
            file.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| p.join(script).display().to_string())
                .unwrap_or_else(|| script.clone())
        }
        _ => script.clone(),
    }
}

impl Plan {
    /// The plan for a work item, from settings `config::resolve` has
    /// checked (every required value is there).
    pub fn build(settings: Settings, item: WorkItem, outputs: Outputs) -> Result<Plan> {
        let transport = Transport::for_settings(&settings)?;
        let rules = RulesHandle::for_file(settings.rules.as_ref().map(|p| p.0.as_path()))?;
        let suite = vec![
            settings.python.0.clone(),
            local_script(&settings, &transport),
            "--work-item".into(),
            item.id.clone(),
            "--mode".into(),
            settings.mode.0.clone(),
        ];
        let clock = Instant::now();
        Ok(Plan {
            deadline: settings.deadline.map(|d| clock + d.0),
            item,
            transport,
            rules,
            suite,
            started_at: chrono::Utc::now(),
            clock,
            json: outputs.json,
            quiet: outputs.quiet,
            settings,
        })
    }

    /// What the wrapper needs for a new run of the suite with this nonce.
    fn wrap<'a>(&'a self, nonce: &'a str, identity: &'a str, since: &'a str) -> wrapper::Wrap<'a> {
        wrapper::Wrap {
            nonce,
            state_dir: &self.settings.remote_state_dir.0,
            lock: &self.item.id,
            deadline: wrapper::remote_deadline(self.settings.timeout.0, self.settings.grace.0),
            grace: self.settings.grace.0,
            report: self.report_path(),
            identity,
            since,
            spool_limit: self.settings.spool_limit.0,
            adopt_within: self.settings.adopt_within.0,
            lease: self.settings.reattach_lease.0,
        }
    }

    /// What makes a run of this plan the same command as another's.
    pub fn identity(&self) -> String {
        wrapper::identity(&self.suite, self.settings.suite_format.as_str())
    }

    /// The run's start, as the wrapper records it for an adopter.
    pub fn since(&self) -> String {
        self.started_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    /// The full argv of one attempt (`nonce` for the wrapper; `control` is
    /// the ssh master's socket, None for the reproducible form).
    pub fn attempt_argv(
        &self,
        nonce: &str,
        control: Option<&std::path::Path>,
    ) -> Result<Vec<String>> {
        if !self.transport.wrapped() {
            return self.transport.argv(self.suite.clone(), control);
        }
        let (identity, since) = (self.identity(), self.since());
        let inner = wrapper::wrap(&self.wrap(nonce, &identity, &since), self.suite.clone());
        self.transport.argv_with_stdin(inner, control)
    }

    /// The argv that reads on in run `nonce` from these spool offsets.
    pub fn follow_argv(
        &self,
        nonce: &str,
        offsets: (u64, u64),
        control: Option<&std::path::Path>,
    ) -> Result<Vec<String>> {
        let inner = wrapper::follow(
            nonce,
            &self.settings.remote_state_dir.0,
            &self.item.id,
            offsets,
            self.settings.reattach_lease.0,
        );
        self.transport.argv_with_stdin(inner, control)
    }

    /// The command for a person to read: the wrapper's script shown as
    /// `<stagerun wrapper>` (the log and --dry-run have it whole).
    pub fn short_command(&self) -> String {
        let Ok(mut argv) = (if self.transport.wrapped() {
            let (identity, since) = (self.identity(), self.since());
            let mut inner =
                wrapper::wrap(&self.wrap("NONCE", &identity, &since), self.suite.clone());
            inner[2] = "<stagerun wrapper>".into();
            self.transport.argv_with_stdin(inner, None)
        } else {
            Ok(self.suite.clone())
        }) else {
            return String::new();
        };
        if let Some(last) = argv.last_mut() {
            *last = last.replace("'<stagerun wrapper>'", "<stagerun wrapper>");
        }
        display_argv(&argv).replace("'<stagerun wrapper>'", "<stagerun wrapper>")
    }

    /// What the log records as the command: pasteable, without our socket.
    pub fn display_command(&self, nonce: &str) -> String {
        self.attempt_argv(nonce, None)
            .map(|a| display_argv(&a))
            .unwrap_or_default()
    }

    /// The program this machine starts for an attempt (ssh, docker, the interpreter…).
    pub fn transport_program(&self) -> String {
        self.attempt_argv("", None)
            .ok()
            .and_then(|a| a.first().cloned())
            .unwrap_or_default()
    }

    /// The suite's report (junit format), where the suite runs.
    pub fn report_path(&self) -> Option<&str> {
        match self.settings.suite_format {
            crate::config::SuiteFormat::Junit => {
                self.settings.suite_report.as_ref().map(|r| r.0.as_str())
            }
            _ => None,
        }
    }

    /// Time left before the run's deadline.
    pub fn time_left(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    pub fn attempts_allowed(&self) -> u32 {
        self.settings.infra_retries.0 + 1
    }
}
