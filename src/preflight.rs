//! `stagerun preflight`: checks the channel step by step (ssh reachable,
//! docker answering, container running, interpreter and check script
//! present) and classifies any failure with the same rules as `run`.

use crate::capture::Echo;
use crate::classify::{self, Class, RuleSet, RulesHandle};
use crate::cli::{PreflightArgs, TransportKind};
use crate::config::{self, ExtraFlags, Settings};
use crate::exit;
use crate::{sshmaster, supervise, transport};
use anyhow::Result;
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Serialize)]
pub struct Step {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    pub class: Option<&'static str>,
    pub rule: Option<String>,
    pub duration_s: f64,
}

/// Reads a step's clean exit: Ok(detail) or Err((class, detail)).
type Judge = Box<dyn Fn(i32, &str) -> std::result::Result<String, (Class, String)>>;

struct Probe<'a> {
    settings: &'a Settings,
    rules: RulesHandle,
    control: Option<&'a Path>,
}

impl Probe<'_> {
    /// argv that runs `parts` where the suite would run: through ssh on the
    /// staging host, or directly here.
    fn argv(&self, parts: Vec<String>) -> Result<Vec<String>> {
        match self.settings.transport {
            TransportKind::Ssh => {
                let mut argv = transport::ssh_base_argv(self.settings, self.control)?;
                argv.push(transport::remote_command(&parts)?);
                Ok(argv)
            }
            _ => Ok(parts),
        }
    }

    /// Runs one step; `judge` turns a clean exit's stdout into ok/detail.
    fn step(
        &self,
        name: &'static str,
        parts: Vec<String>,
        judge: impl Fn(i32, &str) -> std::result::Result<String, (Class, String)>,
    ) -> Result<Step> {
        let argv = self.argv(parts)?;
        let opts = supervise::Options {
            timeout: self.settings.connect_timeout + Duration::from_secs(20),
            grace: Duration::from_secs(1),
            heartbeat: Duration::from_secs(3600),
            echo_stdout: Echo::None,
            echo_stderr: Echo::None,
            env: Vec::new(),
            label: "stagerun preflight".into(),
            live_status: false,
        };
        let outcome = supervise::run_or_spawn_failure(&argv, &opts, || {
            classify::scanners(&self.rules, &self.settings.check_line_pattern, 20)
        });
        let stdout = outcome.stdout.tail.text();
        let stderr = outcome.stderr.tail.text();
        let duration_s = crate::log::seconds(outcome.duration);
        let matched = self.rules.get().classify(&outcome.evidence());
        // A known infrastructure signature wins over the step's own reading;
        // the generic fallbacks do not.
        let infra_signature = matched.class != Class::SuiteRan
            && !matches!(
                matched.rule.as_str(),
                "unknown-exit" | "suite-no-evidence" | "no-rule-matched"
            );
        if !infra_signature && let Some(code) = outcome.exit_code {
            let (ok, detail, class) = match judge(code, stdout.trim()) {
                Ok(detail) => (true, detail, None),
                Err((class, detail)) => (false, detail, Some(class.as_str())),
            };
            return Ok(Step {
                name,
                ok,
                detail,
                class,
                rule: None,
                duration_s,
            });
        }
        let last_err = stderr
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("")
            .to_string();
        Ok(Step {
            name,
            ok: false,
            detail: format!("{} — {last_err}", matched.reason),
            class: Some(matched.class.as_str()),
            rule: Some(matched.rule),
            duration_s,
        })
    }
}

fn s(v: &str) -> String {
    v.to_string()
}

pub fn run(args: &PreflightArgs) -> Result<u8> {
    if args.channel.repo.trim().is_empty() {
        return Err(crate::exit::Exit::usage("--repo must name the repository"));
    }
    let env = config::process_env;
    let (path, file) = config::load_file(args.channel.config.as_deref(), &env)?;
    let settings = Settings::resolve(
        &args.channel,
        &ExtraFlags::default(),
        &env,
        path.as_deref(),
        &file,
    )?;
    let rules = RulesHandle::ready(RuleSet::load(settings.rules.as_deref())?);
    if settings.transport != TransportKind::Local {
        // Validates container (and host/user for ssh) before anything runs.
        transport::docker_exec_argv(&settings, &[])?;
        if settings.transport == TransportKind::Ssh {
            transport::ssh_base_argv(&settings, None)?;
        }
    }
    let master = if settings.transport == TransportKind::Ssh && settings.connection_reuse {
        sshmaster::Master::open(&settings)
    } else {
        None
    };
    let probe = Probe {
        settings: &settings,
        rules,
        control: master.as_ref().map(|m| m.path.as_path()),
    };
    let container = settings.container.clone().unwrap_or_default();
    let py = settings.python.clone();
    let script = settings.check_script.clone();
    // The tested value is a positional parameter, never spliced into the script.
    let sh_test = |test: &str, arg: &str| -> Vec<String> {
        vec![s("sh"), s("-c"), s(test), s("stagerun-preflight"), s(arg)]
    };
    let in_container = |mut parts: Vec<String>| -> Vec<String> {
        if settings.transport == TransportKind::Local {
            return parts;
        }
        let mut v = vec![s("docker"), s("exec"), container.clone()];
        v.append(&mut parts);
        v
    };

    let mut steps = Vec::new();
    eprintln!(
        "stagerun preflight: repo {} via {}{}",
        settings.repo,
        settings.transport.as_str(),
        settings
            .host
            .as_deref()
            .map(|h| format!(" to {h}"))
            .unwrap_or_default()
    );
    let mut plan: Vec<(&'static str, Vec<String>, Judge)> = Vec::new();
    if settings.transport == TransportKind::Ssh {
        plan.push((
            "ssh reachable",
            vec![s("true")],
            Box::new(|_, _| Ok("authenticated, command ran".into())),
        ));
    }
    if settings.transport != TransportKind::Local {
        plan.push((
            "docker answering",
            vec![
                s("docker"),
                s("version"),
                s("--format"),
                s("{{.Server.Version}}"),
            ],
            Box::new(|code, out| {
                if code == 0 {
                    Ok(format!("engine {out}"))
                } else {
                    Err((
                        Class::TransientInfra,
                        format!("docker version exited {code}"),
                    ))
                }
            }),
        ));
        let c = container.clone();
        plan.push((
            "container running",
            vec![
                s("docker"),
                s("inspect"),
                s("--format"),
                s("{{.State.Status}}"),
                container.clone(),
            ],
            Box::new(move |code, out| match (code, out) {
                (0, "running") => Ok(format!("{c} is running")),
                (0, "restarting") => Err((Class::TransientInfra, format!("{c} is restarting"))),
                (0, state) => Err((Class::PermanentEnv, format!("{c} is {state}, not running"))),
                (code, _) => Err((Class::PermanentEnv, format!("docker inspect exited {code}"))),
            }),
        ));
    }
    let p2 = py.clone();
    plan.push((
        "interpreter present",
        in_container(sh_test(r#"command -v "$1" >/dev/null 2>&1"#, &py)),
        Box::new(move |code, _| {
            if code == 0 {
                Ok(format!("{p2} found"))
            } else {
                Err((Class::PermanentEnv, format!("interpreter `{p2}` not found")))
            }
        }),
    ));
    let s2 = script.clone();
    plan.push((
        "check script present",
        in_container(sh_test(r#"test -f "$1""#, &script)),
        Box::new(move |code, _| {
            if code == 0 {
                Ok(format!("{s2} exists"))
            } else {
                Err((
                    Class::PermanentEnv,
                    format!("check script `{s2}` not found"),
                ))
            }
        }),
    ));

    let mut worst = exit::SUCCESS;
    for (name, parts, judge) in plan {
        let step = probe.step(name, parts, judge)?;
        let mark = if step.ok { "ok  " } else { "FAIL" };
        let class = step
            .class
            .map(|c| {
                format!(
                    " [{c}{}]",
                    step.rule
                        .as_ref()
                        .map(|r| format!(", rule {r}"))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_default();
        eprintln!("  {mark}  {:<22} {}{class}", step.name, step.detail);
        let failed = !step.ok;
        steps.push(step);
        if failed {
            worst = exit::HOLD;
            break;
        }
    }
    drop(master);
    if args.channel.json {
        println!(
            "{}",
            serde_json::json!({"schema": "stagerun.preflight/1", "ok": worst == exit::SUCCESS, "exit_code": worst, "steps": steps})
        );
    }
    Ok(worst)
}
