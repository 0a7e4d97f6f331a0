use super::*;
use std::collections::HashMap;
use std::io::Write;

struct Case {
    dir: tempfile::TempDir,
    env: HashMap<String, String>,
    flags: Vec<(&'static str, String)>,
    repo: String,
}

impl Case {
    fn new(yaml: Option<&str>) -> Case {
        let dir = tempfile::tempdir().unwrap();
        if let Some(y) = yaml {
            std::fs::File::create(dir.path().join("stagerun.yaml"))
                .unwrap()
                .write_all(y.as_bytes())
                .unwrap();
        }
        Case {
            dir,
            env: HashMap::new(),
            flags: Vec::new(),
            repo: "core".into(),
        }
    }
    fn env(mut self, k: &str, v: &str) -> Case {
        self.env.insert(k.into(), v.into());
        self
    }
    fn flag(mut self, k: &'static str, v: &str) -> Case {
        self.flags.push((k, v.into()));
        self
    }
    fn with<R>(&self, f: impl FnOnce(&Request) -> R) -> R {
        let env = self.env.clone();
        let lookup = move |k: &str| env.get(k).cloned();
        let path = self.dir.path().join("stagerun.yaml");
        let req = Request {
            repo: &self.repo,
            config: path.exists().then_some(path.as_path()),
            flags: self.flags.clone(),
            env: &lookup,
            purpose: Purpose::Inspect,
        };
        f(&req)
    }
    fn load(&self) -> Result<Settings> {
        self.with(resolve)
    }
    fn skip(&self) -> Result<Option<String>> {
        self.with(skip_reason)
    }
}

#[test]
fn every_required_key_has_a_default_and_defaults_name_only_keys() {
    let s = Case::new(None).load().unwrap();
    assert_eq!(s.timeout.0.as_secs(), 900);
    assert_eq!(s.provenance.len(), KEYS.len());
    let parsed: FileOptions = serde_saphyr::from_str(DEFAULTS).unwrap();
    assert!(parsed.repos.is_none());
}

#[test]
fn flag_beats_env_beats_repo_section_beats_file_beats_default() {
    let yaml = "timeout: 100\nrepos:\n  core:\n    timeout: 200\n";
    let mut other = Case::new(Some(yaml));
    other.repo = "other".into();
    assert_eq!(other.load().unwrap().timeout.0.as_secs(), 100);
    assert_eq!(
        Case::new(Some(yaml)).load().unwrap().timeout.0.as_secs(),
        200
    );
    let c = Case::new(Some(yaml)).env("ORCH_STAGING_RUNNER_TIMEOUT", "5m");
    assert_eq!(c.load().unwrap().timeout.0.as_secs(), 300);
    let c = c.flag("timeout", "400");
    let s = c.load().unwrap();
    assert_eq!(s.timeout.0.as_secs(), 400);
    assert_eq!(s.source_of("timeout").to_string(), "flag --timeout");
    let s = Case::new(Some(yaml)).load().unwrap();
    assert!(
        s.source_of("timeout")
            .to_string()
            .contains("key `repos.core.timeout`"),
        "{}",
        s.source_of("timeout")
    );
}

#[test]
fn bad_values_name_key_and_source() {
    for (raw, needle) in [
        ("abc", "`abc` is not a duration"),
        ("-5", "not a duration"),
        ("0", "more than zero"),
        ("", "is empty"),
    ] {
        let err = Case::new(None)
            .env("ORCH_STAGING_RUNNER_TIMEOUT", raw)
            .load()
            .unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.code(), crate::exit::CONFIG);
        assert!(
            msg.contains("`timeout`")
                && msg.contains("ORCH_STAGING_RUNNER_TIMEOUT")
                && msg.contains(needle),
            "{msg}"
        );
    }
    for (raw, needle) in [
        (
            "99999999999",
            "`99999999999` is more than the maximum of 20",
        ),
        ("21", "`21` is more than the maximum of 20"),
        ("-1", "`-1` is not a whole number"),
        ("2.5", "`2.5` is not a whole number"),
    ] {
        let err = Case::new(None)
            .env("ORCH_STAGING_RUNNER_INFRA_RETRIES", raw)
            .load()
            .unwrap_err();
        assert_eq!(err.code(), crate::exit::CONFIG);
        assert!(err.to_string().contains(needle), "{err}");
    }
    let msg = Case::new(Some("\ntimeout: 0\n"))
        .load()
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("key `timeout` in") && msg.contains("line 2"),
        "{msg}"
    );
    let msg = Case::new(None)
        .env("ORCH_STAGING_RUNNER_ENABLED", "maybe")
        .skip()
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("ORCH_STAGING_RUNNER_ENABLED") && msg.contains("boolean"),
        "{msg}"
    );
}

#[test]
fn yaml_errors_are_one_line_with_position() {
    let msg = parse_file("timeout: 5\nnope: 1\n").unwrap_err();
    assert!(
        msg.starts_with("2:1:") && msg.contains("unknown field `nope`") && !msg.contains('\n'),
        "{msg}"
    );
    let msg = parse_file("timeout: [1,\n").unwrap_err();
    assert!(!msg.contains('\n'), "{msg}");
}

#[test]
fn the_kill_switch_wins_over_every_other_broken_value() {
    // A broken file, a bad timeout: still SKIPPED when disabled.
    let c = Case::new(Some("timeout: [nonsense\n"))
        .env("ORCH_STAGING_RUNNER_ENABLED", "false")
        .env("ORCH_STAGING_RUNNER_TIMEOUT", "soon");
    assert!(
        c.skip()
            .unwrap()
            .unwrap()
            .contains("runner disabled by environment variable")
    );
    // Disabled in a file whose other keys are wrong.
    let c = Case::new(Some("enabled: false\ntimeout: soon\nnope: 1\n"));
    assert!(
        c.skip()
            .unwrap()
            .unwrap()
            .contains("runner disabled by key `enabled`")
    );
    // Enabled: the broken value is then an error.
    let c = Case::new(Some("enabled: true\ntimeout: soon\n"));
    assert_eq!(c.skip().unwrap(), None);
    assert_eq!(c.load().unwrap_err().code(), crate::exit::CONFIG);
}

#[test]
fn scope_is_decided_first_and_empty_is_an_error() {
    let c = Case::new(None).env("ORCH_STAGING_RUNNER_REPOS", "web, api");
    assert!(
        c.skip()
            .unwrap()
            .unwrap()
            .contains("outside the runner's scope")
    );
    let c = Case::new(None).env("ORCH_STAGING_RUNNER_REPOS", "web, core");
    assert_eq!(c.skip().unwrap(), None);
    let c = Case::new(Some("scope: [web]\ntimeout: soon\n"));
    assert!(c.skip().unwrap().unwrap().contains("outside"));
    let err = Case::new(None)
        .env("ORCH_STAGING_RUNNER_REPOS", "")
        .skip()
        .unwrap_err();
    assert_eq!(err.code(), crate::exit::CONFIG);
    assert!(err.to_string().contains("is empty"), "{err}");
}

#[test]
fn relative_paths_in_a_file_are_relative_to_that_file() {
    let c = Case::new(Some(
        "rules: my-rules.yaml\nidentity_file: keys/id\nknown_hosts: /abs/kh\n",
    ));
    let s = c.load().unwrap();
    let dir = c.dir.path();
    assert_eq!(s.rules.unwrap().0, dir.join("my-rules.yaml"));
    assert_eq!(s.identity_file.unwrap().0, dir.join("keys/id"));
    assert_eq!(s.known_hosts.unwrap().0, std::path::Path::new("/abs/kh"));
    // From the environment: as given (the current directory).
    let s = Case::new(None)
        .env("ORCH_STAGING_RUNNER_RULES", "r.yaml")
        .load()
        .unwrap();
    assert_eq!(s.rules.unwrap().0, std::path::Path::new("r.yaml"));
}

#[test]
fn values_that_reach_an_argv_are_refused_when_they_look_like_options() {
    for (key, value) in [
        ("ORCH_STAGING_RUNNER_PUSH_REMOTE", "--upload-pack=evil"),
        ("ORCH_STAGING_RUNNER_HOST", "-oProxyCommand=x"),
        ("ORCH_STAGING_RUNNER_PYTHON", "-c"),
    ] {
        let err = Case::new(None).env(key, value).load().unwrap_err();
        assert!(err.to_string().contains("must not start with `-`"), "{err}");
    }
}

#[test]
fn durations_read_humanly() {
    let s = Case::new(Some("timeout: 15m\ngrace: 0.5\ndeadline: 1h 30m\n"))
        .load()
        .unwrap();
    assert_eq!(s.timeout.0.as_secs(), 900);
    assert_eq!(s.grace.0.as_millis(), 500);
    assert_eq!(s.deadline.unwrap().0.as_secs(), 5400);
}

#[test]
fn exec_options_that_take_the_suite_out_of_supervision_are_refused() {
    for bad in [
        "-d",
        "--detach",
        "-it",
        "-t",
        "--tty",
        "-i",
        "--interactive",
        "-dit",
        "--detach-keys=ctrl-x",
    ] {
        let err = Case::new(None)
            .env("ORCH_STAGING_RUNNER_DOCKER_OPTIONS", bad)
            .load()
            .unwrap_err();
        assert_eq!(err.code(), crate::exit::CONFIG, "{bad}");
        assert!(err.to_string().contains("supervision"), "{bad}: {err}");
    }
    for good in [
        "--user=app",
        "-e",
        "--env=A=1",
        "-u",
        "--workdir=/srv",
        "-w",
    ] {
        let s = Case::new(None)
            .env("ORCH_STAGING_RUNNER_DOCKER_OPTIONS", good)
            .load();
        assert!(s.is_ok(), "{good}: {:?}", s.err());
    }
}

#[test]
fn every_bad_and_missing_value_is_reported_at_once_after_the_kill_switch() {
    let env: HashMap<&str, &str> = [
        ("ORCH_STAGING_RUNNER_TIMEOUT", "soon"),
        ("ORCH_STAGING_RUNNER_GRACE", "-1"),
        ("ORCH_STAGING_RUNNER_ENGINE", "kubectl"),
    ]
    .into();
    let lookup = |k: &str| env.get(k).map(|v| v.to_string());
    let req = |purpose| Request {
        repo: "core",
        config: None,
        flags: vec![("port", "0".to_string())],
        env: &lookup,
        purpose,
    };
    let msg = resolve(&req(Purpose::Run)).unwrap_err().to_string();
    let lines: Vec<&str> = msg.lines().collect();
    assert_eq!(lines[0], "6 configuration problems:", "{msg}");
    for (line, says) in lines[1..].iter().zip([
        "invalid value for `port` from flag --port",
        "invalid value for `timeout` from environment variable ORCH_STAGING_RUNNER_TIMEOUT",
        "invalid value for `grace` from environment variable ORCH_STAGING_RUNNER_GRACE",
        "`host` is not set: the ssh transport needs it (flag --host,",
        "`pod` is not set: the kubectl engine needs it (flag --pod,",
        "`container` is not set: the kubectl engine needs it (flag --container,",
    ]) {
        assert!(line.starts_with(&format!("  - {says}")), "{line}\n{msg}");
    }
    // disconnect needs the channel only; inspecting needs nothing.
    let msg = resolve(&req(Purpose::Disconnect)).unwrap_err().to_string();
    assert!(
        msg.contains("`host` is not set") && !msg.contains("`pod`"),
        "{msg}"
    );
    let msg = resolve(&req(Purpose::Inspect)).unwrap_err().to_string();
    assert!(
        msg.starts_with("3 configuration problems") && !msg.contains("not set"),
        "{msg}"
    );
    // The kill-switch first, whatever else is wrong.
    let off = |k: &str| match k {
        "ORCH_STAGING_RUNNER_ENABLED" => Some("false".to_string()),
        _ => lookup(k),
    };
    let err = resolve(&Request {
        env: &off,
        ..req(Purpose::Run)
    })
    .unwrap_err();
    assert_eq!(err.code(), crate::exit::SKIPPED, "{err}");
}

#[test]
fn the_legacy_switch_and_the_transport_decide_the_channel_by_layer() {
    let placed = |c: Case| {
        let p = c.load().unwrap().placement().unwrap();
        (p.channel.as_str(), p.engine.as_str(), p.channel_by.0)
    };
    assert_eq!(placed(Case::new(None)), ("ssh", "docker", "transport"));
    let c = Case::new(None).env("ORCH_STAGING_RUNNER_EXEC_HOST_SIDE", "false");
    assert_eq!(placed(c), ("local", "docker", "exec_host_side"));
    // The higher layer wins: a transport flag over the environment's switch.
    let c = Case::new(None)
        .env("ORCH_STAGING_RUNNER_EXEC_HOST_SIDE", "false")
        .flag("transport", "ssh");
    assert_eq!(placed(c), ("ssh", "docker", "transport"));
    let c = Case::new(None).flag("transport", "local");
    assert_eq!(placed(c), ("local", "none", "transport"));
    let err = Case::new(None)
        .flag("transport", "docker")
        .flag("engine", "podman")
        .load()
        .unwrap()
        .placement()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`--transport local --engine podman`"),
        "{err}"
    );
}

/// docs/configuration.md's table of every key, from the key list.
#[test]
fn docs_list_every_key_with_its_variable_flag_and_default() {
    let cell = |s: &str| s.replace('|', "\\|");
    let defaults = defaults_shown();
    let names = [
        (takes::RUN, "run"),
        (takes::PREFLIGHT, "preflight"),
        (takes::DISCONNECT, "disconnect"),
        (takes::CLASSIFY, "classify"),
    ];
    let mut body = String::from(
        "| key | environment | flag (subcommands) | default | meaning |\n|---|---|---|---|---|\n",
    );
    for k in KEYS {
        let flag = k.flag.as_ref().map_or(String::new(), |f| {
            let subs: Vec<&str> = names
                .iter()
                .filter(|(bit, _)| f.takes & bit != 0)
                .map(|(_, n)| *n)
                .collect();
            let sets = f
                .switch
                .map_or(String::new(), |(v, _)| format!("; sets {v}"));
            format!("`--{}` ({}{sets})", f.long, subs.join(", "))
        });
        let default = defaults
            .iter()
            .find(|(key, _)| key == k.name)
            .map(|(_, v)| format!("`{}`", cell(v)))
            .or(k.unset.map(|u| format!("unset: {u}")))
            .unwrap_or_default();
        body.push_str(&format!(
            "| `{}` | `{}` | {flag} | {default} | {} |\n",
            k.name,
            k.env,
            cell(k.text())
        ));
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let (begin, end) = ("<!-- keys:begin -->\n", "<!-- keys:end -->");
    let (Some(a), Some(b)) = (text.find(begin), text.find(end)) else {
        panic!("docs/configuration.md lacks the keys markers");
    };
    if text[a + begin.len()..b] != body
        && std::env::var("STAGERUN_UPDATE_DOCS").as_deref() == Ok("1")
    {
        let updated = format!("{}{begin}{body}{}", &text[..a], &text[b..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        text[a + begin.len()..b] == body,
        "docs/configuration.md is stale: STAGERUN_UPDATE_DOCS=1 cargo test --lib config"
    );
}
