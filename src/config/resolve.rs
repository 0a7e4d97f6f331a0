//! The one way to settings: every layer (flag, environment, the config
//! file's `repos.NAME` section, its top level, the defaults) built from the
//! key list, the kill-switch and scope decided first by the same layering
//! from the fewest inputs, then every key typed, and every bad or missing
//! value reported at once.

use super::keys::{KEYS, Settings, takes};
use super::layers::{Layer, Layers, Source, file_source};
use super::values::*;
use super::{ENV_CONFIG, EnvLookup, defaults_layer, one_line_yaml_error, parse_file};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Who asks, which decides what is checked before settings are returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// `run`: kill-switch and scope first; the channel's, the engine's and
    /// the suite's values are required.
    Run,
    /// `preflight`: the same, but the suite's report is not read.
    Preflight,
    /// `disconnect`: kill-switch and scope; only the channel's values.
    Disconnect,
    /// `config`, `status`, `classify`, `history`: every value as it is;
    /// nothing skipped, nothing required.
    Inspect,
}

impl Purpose {
    /// The `takes` bits of the subcommand (whose flags an error may name).
    fn takes(self) -> u8 {
        match self {
            Purpose::Run => takes::RUN,
            Purpose::Preflight => takes::PREFLIGHT,
            Purpose::Disconnect => takes::DISCONNECT,
            Purpose::Inspect => 0,
        }
    }
}

/// What one invocation asks for.
pub struct Request<'a> {
    pub repo: &'a str,
    pub config: Option<&'a Path>,
    /// (key, raw value) for each key given as a flag (`cli::KeyFlags`).
    pub flags: Vec<(&'static str, String)>,
    pub env: EnvLookup<'a>,
    pub purpose: Purpose,
}

impl<'a> Request<'a> {
    /// A request that reads the process environment.
    pub fn new(
        purpose: Purpose,
        repo: &'a str,
        config: Option<&'a Path>,
        flags: Vec<(&'static str, String)>,
    ) -> Request<'a> {
        Request {
            repo,
            config,
            flags,
            env: &super::process_env,
            purpose,
        }
    }

    /// The config file: --config, STAGERUN_CONFIG, or ./stagerun.yaml when
    /// present; Ok(None) when there is none to read.
    fn read_file(&self) -> Result<Option<(PathBuf, String)>> {
        let (path, required) = match self.config {
            Some(p) => (p.to_path_buf(), true),
            None => match (self.env)(ENV_CONFIG) {
                Some(p) if !p.is_empty() => (PathBuf::from(p), true),
                _ => (PathBuf::from("stagerun.yaml"), false),
            },
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::Config(format!(
                    "cannot read config file {}: {}",
                    path.display(),
                    crate::error::describe_io(&e)
                )));
            }
        };
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::Config(format!("config file {} is not valid UTF-8", path.display()))
        })?;
        Ok(Some((path, text)))
    }

    /// The flag layer: each key given as a flag, named by its flag.
    fn flag_layer(&self) -> Layer {
        let mut layer = Layer::default();
        for (key, raw) in &self.flags {
            let Some(doc) = KEYS.iter().find(|k| k.name == *key) else {
                continue;
            };
            let flag = doc.flag.as_ref().map(|f| f.long).unwrap_or(doc.name);
            layer
                .values
                .insert(doc.name, (Raw::Text(raw.clone()), Source::Flag(flag)));
        }
        layer
    }

    /// The environment layer: each key's variable, when set.
    fn env_layer(&self) -> Layer {
        let mut layer = Layer::default();
        for k in KEYS {
            if let Some(raw) = (self.env)(k.env) {
                layer
                    .values
                    .insert(k.name, (Raw::Text(raw), Source::Env(k.env.to_string())));
            }
        }
        layer
    }
}

/// The folder a config file's relative paths start from.
fn base_of(path: &Path) -> Option<PathBuf> {
    path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            p.to_path_buf()
        }
    })
}

/// The file's `enabled` and `scope` alone, whatever else it holds: the
/// kill-switch works in a file whose other keys are wrong.
fn minimal_file_layer(path: &Path, text: &str) -> Result<Layer> {
    #[derive(serde::Deserialize, Default)]
    struct Minimal {
        enabled: Option<serde_saphyr::Spanned<Yaml>>,
        scope: Option<serde_saphyr::Spanned<Yaml>>,
    }
    let min: Minimal = if text.trim().is_empty() {
        Minimal::default()
    } else {
        serde_saphyr::from_str(text)
            .map_err(|e| Error::Config(format!("{}:{}", path.display(), one_line_yaml_error(&e))))?
    };
    let mut layer = Layer {
        base: base_of(path),
        ..Layer::default()
    };
    for (key, v) in [("enabled", &min.enabled), ("scope", &min.scope)] {
        if let Some(v) = v {
            let source = file_source(path, key.into(), v.referenced.line() as usize);
            layer
                .values
                .insert(key, (Raw::Yaml(v.value.clone()), source));
        }
    }
    Ok(layer)
}

/// The file's two layers: the `repos.NAME` section, then the top level;
/// and, when the file has `repos:` sections but none for this repository,
/// a note saying so (a misspelt `--repo` reads as values not set).
fn file_layers(req: &Request, path: &Path, text: &str) -> Result<([Layer; 2], Option<Error>)> {
    let parsed = parse_file(text).map_err(|m| Error::Config(format!("{}:{m}", path.display())))?;
    let base = base_of(path);
    let mut repo = Layer {
        base: base.clone(),
        ..Layer::default()
    };
    if let Some(section) = parsed.repos.as_ref().and_then(|r| r.get(req.repo)) {
        for (key, v) in section.entries() {
            let at = format!("repos.{}.{key}", req.repo);
            let source = file_source(path, at, v.referenced.line() as usize);
            repo.values
                .insert(key, (Raw::Yaml(v.value.clone()), source));
        }
    }
    let mut top = Layer {
        base,
        ..Layer::default()
    };
    for (key, v) in parsed.entries() {
        let source = file_source(path, key.to_string(), v.referenced.line() as usize);
        top.values.insert(key, (Raw::Yaml(v.value.clone()), source));
    }
    let no_section = parsed
        .repos
        .as_ref()
        .filter(|r| !r.is_empty() && !r.contains_key(req.repo))
        .map(|r| {
            Error::Config(format!(
                "{} has no section `{}` under `repos:` (it has {}){}",
                path.display(),
                req.repo,
                r.keys()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                crate::suggest::did_you_mean(req.repo, r.keys().map(String::as_str))
            ))
        });
    Ok(([repo, top], no_section))
}

/// Kill-switch and scope, decided first and from the fewest inputs by the
/// same layering as every key: the flag and environment layers, the file
/// only when they leave either open (and then only its `enabled` and
/// `scope`), the defaults. A disabled runner skips (exit 3) even when the
/// rest of the configuration is broken. Some(reason) means skip.
pub fn skip_reason(req: &Request) -> Result<Option<String>> {
    skip_reason_in(req, &mut ConfigFile::unread(req))
}

/// The config file of one resolution, read at most once: the kill-switch
/// may need it before the rest of the settings do.
struct ConfigFile<'r, 'a> {
    req: &'r Request<'a>,
    read: Option<Option<(PathBuf, String)>>,
}

impl<'r, 'a> ConfigFile<'r, 'a> {
    fn unread(req: &'r Request<'a>) -> Self {
        ConfigFile { req, read: None }
    }

    fn get(&mut self) -> Result<Option<&(PathBuf, String)>> {
        if self.read.is_none() {
            self.read = Some(self.req.read_file()?);
        }
        Ok(self.read.as_ref().and_then(Option::as_ref))
    }

    fn into_contents(self) -> Result<Option<(PathBuf, String)>> {
        match self.read {
            Some(read) => Ok(read),
            None => self.req.read_file(),
        }
    }
}

fn skip_reason_in(req: &Request, file: &mut ConfigFile) -> Result<Option<String>> {
    let mut layers = Layers(vec![req.flag_layer(), req.env_layer()]);
    let disabled = |source: &Source| Ok(Some(format!("runner disabled by {source}")));
    if let Some((false, source)) = layers.find::<bool>("enabled")? {
        return disabled(&source);
    }
    if !(layers.has("enabled") && layers.has("scope"))
        && let Some((path, text)) = file.get()?
    {
        layers.0.push(minimal_file_layer(path, text)?);
    }
    layers.0.push(defaults_layer()?);
    let (enabled, source) = layers.value::<bool>("enabled")?;
    if !enabled {
        return disabled(&source);
    }
    let (scope, source) = layers.value::<Option<RepoList>>("scope")?;
    Ok(scope
        .filter(|list| !list.0.iter().any(|r| r == req.repo))
        .map(|list| {
            format!(
                "repo `{}` is outside the runner's scope [{}] ({source})",
                req.repo,
                list.0.join(", ")
            )
        }))
}

/// Every key from every layer: the kill-switch and scope first (for the
/// commands that run something), then every value typed, and every bad or
/// missing one reported at once.
pub fn resolve(req: &Request) -> Result<Settings> {
    resolve_with(req, |_| Ok(())).map(|(s, ())| s)
}

/// `resolve`, with a check of the command's own between the bad values and
/// the missing ones: `run`'s work item, a usage error that has always
/// outranked a value the run needs (and whose id pattern is a setting).
pub fn resolve_with<T>(
    req: &Request,
    check: impl FnOnce(&Settings) -> Result<T>,
) -> Result<(Settings, T)> {
    if req.repo.chars().any(char::is_control) {
        return Err(Error::Usage(
            "invalid --repo: contains a control character".into(),
        ));
    }
    let mut file = ConfigFile::unread(req);
    if req.purpose != Purpose::Inspect {
        if req.repo.trim().is_empty() {
            return Err(Error::Usage(
                "--repo must name the repository (it selects scope and per-repo settings)".into(),
            ));
        }
        if let Some(why) = skip_reason_in(req, &mut file)? {
            return Err(Error::Skipped(why));
        }
    }
    let file = file.into_contents()?;
    let mut layers = vec![req.flag_layer(), req.env_layer()];
    let mut no_section = None;
    if let Some((path, text)) = &file {
        let (file, note) = file_layers(req, path, text)?;
        layers.extend(file);
        no_section = note;
    }
    layers.push(defaults_layer()?);
    let layers = Layers(layers);
    let settings = Settings::from_layers(&layers, req.repo.to_string(), file.map(|(p, _)| p));
    let mut missing = missing(&layers, req.purpose);
    if !missing.is_empty() {
        // Only where it explains something: values the section would set.
        missing.extend(no_section);
    }
    match settings {
        Err(mut bad) => {
            bad.extend(missing);
            Err(problems(bad))
        }
        Ok(s) => {
            let checked = check(&s)?;
            if missing.is_empty() {
                Ok((s, checked))
            } else {
                Err(problems(missing))
            }
        }
    }
}

/// One error for every problem found: the one line of a single problem as
/// it is, several one per line under a count.
fn problems(mut list: Vec<Error>) -> Error {
    if let Some(bug) = list.iter().position(|e| matches!(e, Error::Internal(_))) {
        return list.swap_remove(bug);
    }
    match list.len() {
        1 => list.swap_remove(0),
        n => {
            let lines: Vec<String> = list.iter().map(|e| format!("  - {e}")).collect();
            Error::Config(format!("{n} configuration problems:\n{}", lines.join("\n")))
        }
    }
}

/// The values this purpose needs that no layer sets, each as one error
/// naming the key, who needs it and every way to set it. Decided from the
/// layers, so they are reported together with the bad values.
fn missing(layers: &Layers, purpose: Purpose) -> Vec<Error> {
    let placed = || -> Result<(Placement, SuiteFormat)> {
        let exec_host_side = layers.value::<bool>("exec_host_side")?;
        let transport = layers.value::<Option<TransportName>>("transport")?;
        let engine = layers.value::<Option<EngineName>>("engine")?;
        let format = layers.value::<SuiteFormat>("suite_format")?.0;
        Ok((
            Placement::decide(exec_host_side, transport, engine)?,
            format,
        ))
    };
    // A bad or contradictory transport is reported as such already.
    let Ok((placement, format)) = placed() else {
        return Vec::new();
    };
    let mut needed: Vec<(&str, String)> = Vec::new();
    if purpose != Purpose::Inspect && placement.channel == ChannelName::Ssh {
        needed.push(("host", "the ssh transport".into()));
    }
    if matches!(purpose, Purpose::Run | Purpose::Preflight) {
        needed.extend(
            placement
                .engine
                .needs()
                .iter()
                .map(|k| (*k, format!("the {} engine", placement.engine))),
        );
    }
    if purpose == Purpose::Run && format == SuiteFormat::Junit {
        needed.push(("suite_report", "the junit suite format".into()));
    }
    needed
        .into_iter()
        .filter(|(key, _)| !layers.has(key))
        .map(|(key, who)| not_set(key, &who, purpose.takes()))
        .collect()
}

/// `KEY` is not set: WHO needs it (flag, environment variable, config key).
pub fn not_set(key: &str, who: &str, takes: u8) -> Error {
    let Some(doc) = KEYS.iter().find(|k| k.name == key) else {
        return Error::Config(format!("`{key}` is not set: {who} needs it"));
    };
    let flag = doc
        .flag_for(takes)
        .filter(|f| f.switch.is_none())
        .map(|f| format!("flag --{}, ", f.long))
        .unwrap_or_default();
    Error::Config(format!(
        "`{key}` is not set: {who} needs it ({flag}environment {}, or config key `{key}`)",
        doc.env
    ))
}

words! {
    /// This machine, or the staging host over ssh.
    pub enum ChannelName {
        Local = "local",
        Ssh = "ssh",
    }
}

/// Where the suite runs, as the settings say: a channel and an engine, and
/// which setting decided each.
#[derive(Clone, Debug)]
pub struct Placement {
    pub channel: ChannelName,
    pub engine: EngineName,
    /// Where the channel comes from: `transport`, or the legacy `exec_host_side`.
    pub channel_by: (&'static str, Source),
}

impl Placement {
    /// `transport` and the legacy `exec_host_side` decide the channel (the
    /// higher layer wins); `engine`, or the one the channel implies.
    pub fn decide(
        (exec_host_side, host_side_by): (bool, Source),
        (transport, transport_by): (Option<TransportName>, Source),
        (engine, engine_by): (Option<EngineName>, Source),
    ) -> Result<Placement> {
        let legacy_local =
            !exec_host_side && (transport.is_none() || host_side_by.rank() > transport_by.rank());
        let (channel, implied) = match (legacy_local, transport) {
            (true, _) | (false, Some(TransportName::Docker)) => {
                (ChannelName::Local, EngineName::Docker)
            }
            (false, Some(TransportName::Local)) => (ChannelName::Local, EngineName::None),
            (false, Some(TransportName::Ssh) | None) => (ChannelName::Ssh, EngineName::Docker),
        };
        if transport == Some(TransportName::Docker)
            && let Some(e) = engine
            && e != EngineName::Docker
        {
            return Err(Error::Config(format!(
                "`transport: docker` means the local docker engine; for {e} use `--transport local --engine {e}` (engine from {engine_by})"
            )));
        }
        Ok(Placement {
            channel,
            engine: engine.unwrap_or(implied),
            channel_by: if legacy_local {
                ("exec_host_side", host_side_by)
            } else {
                ("transport", transport_by)
            },
        })
    }
}

impl Settings {
    /// The channel and engine these settings ask for.
    pub fn placement(&self) -> Result<Placement> {
        Placement::decide(
            (self.exec_host_side, self.source_of("exec_host_side")),
            (self.transport, self.source_of("transport")),
            (self.engine, self.source_of("engine")),
        )
    }
}

impl EngineName {
    /// The keys an engine cannot do without.
    pub fn needs(self) -> &'static [&'static str] {
        match self {
            EngineName::Docker | EngineName::Podman => &["container"],
            // kubectl without -c picks a container itself.
            EngineName::Kubectl => &["pod", "container"],
            EngineName::None => &[],
        }
    }
}
