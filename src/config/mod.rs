//! Configuration: one key list (keys.rs), one value type per kind of value
//! (values.rs), layers combined in one place (layers.rs), every default in
//! defaults.yaml. `load` is used by run, preflight, classify and config.

mod keys;
mod layers;
mod values;

pub use keys::{FileOptions, KEYS, Settings};
pub use layers::Source;
pub use values::*;

use crate::error::{Error, Result};
use layers::{Layer, Layers, file_source};
use std::path::{Path, PathBuf};

pub const DEFAULTS: &str = include_str!("defaults.yaml");
pub const ENV_CONFIG: &str = "STAGERUN_CONFIG";

/// Reads the environment through a function, so tests resolve without
/// touching the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// What one invocation asks for.
pub struct Request<'a> {
    pub repo: &'a str,
    pub config: Option<&'a Path>,
    /// (key, raw value) for each key given as a flag.
    pub flags: Vec<(&'static str, String)>,
    pub env: EnvLookup<'a>,
}

impl Request<'_> {
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
}

/// Kill-switch and scope, decided first and from the fewest inputs, so a
/// disabled runner skips (exit 3) even when the rest of the configuration
/// is broken. Some(reason) means skip.
pub fn skip_reason(req: &Request) -> Result<Option<String>> {
    let ctx = Ctx { base: None };
    let env_value = |key: &str| {
        let name = KEYS
            .iter()
            .find(|k| k.name == key)
            .map(|k| k.env)
            .unwrap_or_default();
        (req.env)(name).map(|raw| (raw, name))
    };
    let mut enabled: Option<(bool, Source)> = None;
    if let Some((raw, name)) = env_value("enabled") {
        let source = Source::Env(name.to_string());
        let v = bool::from_text(raw.trim(), &ctx)
            .map_err(|why| Error::bad_value("enabled", &source, why))?;
        if !v {
            return Ok(Some(format!("runner disabled by {source}")));
        }
        enabled = Some((v, source));
    }
    let mut scope: Option<(RepoList, Source)> = None;
    if let Some((raw, name)) = env_value("scope") {
        let source = Source::Env(name.to_string());
        let v = RepoList::from_text(raw.trim(), &ctx)
            .map_err(|why| Error::bad_value("scope", &source, why))?;
        scope = Some((v, source));
    }
    if enabled.is_none() || scope.is_none() {
        #[derive(serde::Deserialize, Default)]
        struct Minimal {
            enabled: Option<serde_saphyr::Spanned<Yaml>>,
            scope: Option<serde_saphyr::Spanned<Yaml>>,
        }
        if let Some((path, text)) = req.read_file()? {
            let min: Minimal = if text.trim().is_empty() {
                Minimal::default()
            } else {
                serde_saphyr::from_str(&text).map_err(|e| {
                    Error::Config(format!("{}:{}", path.display(), one_line_yaml_error(&e)))
                })?
            };
            if enabled.is_none()
                && let Some(v) = &min.enabled
            {
                let source = file_source(&path, "enabled".into(), v.referenced.line() as usize);
                let on = bool::from_yaml(&v.value, &ctx)
                    .map_err(|why| Error::bad_value("enabled", &source, why))?;
                if !on {
                    return Ok(Some(format!("runner disabled by {source}")));
                }
            }
            if scope.is_none()
                && let Some(v) = &min.scope
            {
                let source = file_source(&path, "scope".into(), v.referenced.line() as usize);
                let list = RepoList::from_yaml(&v.value, &ctx)
                    .map_err(|why| Error::bad_value("scope", &source, why))?;
                scope = Some((list, source));
            }
        }
    }
    if let Some((list, source)) = scope
        && !list.0.iter().any(|r| r == req.repo)
    {
        return Ok(Some(format!(
            "repo `{}` is outside the runner's scope [{}] ({source})",
            req.repo,
            list.0.join(", ")
        )));
    }
    Ok(None)
}

/// Every key, from every layer.
pub fn load(req: &Request) -> Result<Settings> {
    if req.repo.chars().any(char::is_control) {
        return Err(Error::Usage(
            "invalid --repo: contains a control character".into(),
        ));
    }
    let mut layers = Vec::new();
    let mut flag_layer = Layer::default();
    for (key, raw) in &req.flags {
        let flag = KEYS
            .iter()
            .find(|k| k.name == *key)
            .and_then(|k| k.flag)
            .unwrap_or(key);
        flag_layer
            .values
            .insert(key, (Raw::Text(raw.clone()), Source::Flag(flag)));
    }
    layers.push(flag_layer);
    let mut env_layer = Layer::default();
    for k in KEYS {
        if let Some(raw) = (req.env)(k.env) {
            env_layer
                .values
                .insert(k.name, (Raw::Text(raw), Source::Env(k.env.to_string())));
        }
    }
    layers.push(env_layer);
    let file = req.read_file()?;
    if let Some((path, text)) = &file {
        let parsed =
            parse_file(text).map_err(|m| Error::Config(format!("{}:{m}", path.display())))?;
        let base = path.parent().map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        });
        let section = parsed.repos.as_ref().and_then(|r| r.get(req.repo));
        let mut repo_layer = Layer {
            base: base.clone(),
            ..Layer::default()
        };
        if let Some(section) = section {
            for (key, v) in section.entries() {
                let source = file_source(
                    path,
                    format!("repos.{}.{key}", req.repo),
                    v.referenced.line() as usize,
                );
                repo_layer
                    .values
                    .insert(key, (Raw::Yaml(v.value.clone()), source));
            }
        }
        layers.push(repo_layer);
        let mut top = Layer {
            base,
            ..Layer::default()
        };
        for (key, v) in parsed.entries() {
            let source = file_source(path, key.to_string(), v.referenced.line() as usize);
            top.values.insert(key, (Raw::Yaml(v.value.clone()), source));
        }
        layers.push(top);
    }
    layers.push(defaults_layer()?);
    Settings::from_layers(&Layers(layers), req.repo.to_string(), file.map(|(p, _)| p))
}

/// defaults.yaml, converted to JSON by build.rs (parsing the YAML at every
/// start was half of a dry run's time).
const DEFAULTS_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/defaults.json"));

/// Every default, in the order of the key list.
fn default_values() -> Result<Vec<(&'static str, Yaml)>> {
    let bad = |why: String| Error::Internal(format!("built-in defaults: {why}"));
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(DEFAULTS_JSON).map_err(|e| bad(e.to_string()))?;
    let mut values = Vec::new();
    for (key, value) in map {
        let known = keys::KEYS
            .iter()
            .position(|d| d.name == key)
            .ok_or_else(|| bad(format!("unknown key `{key}`")))?;
        let value = <Yaml as serde::Deserialize>::deserialize(value)
            .map_err(|e| bad(format!("`{key}`: {e}")))?;
        values.push((known, keys::KEYS[known].name, value));
    }
    values.sort_by_key(|v| v.0);
    Ok(values.into_iter().map(|(_, k, v)| (k, v)).collect())
}

fn defaults_layer() -> Result<Layer> {
    let mut layer = Layer::default();
    for (key, value) in default_values()? {
        layer
            .values
            .insert(key, (Raw::Yaml(value), Source::Default));
    }
    Ok(layer)
}

/// (key, value as written) of every default, for help texts and docs.
pub fn defaults_shown() -> Vec<(String, String)> {
    let Ok(values) = default_values() else {
        return Vec::new();
    };
    values
        .into_iter()
        .map(|(k, value)| {
            let shown = match &value {
                Yaml::Str(s) => s.clone(),
                Yaml::Seq(items) if items.is_empty() => "[]".into(),
                other => serde_json::to_string(&yaml_json(other)).unwrap_or_default(),
            };
            (k.to_string(), shown)
        })
        .collect()
}

fn yaml_json(y: &Yaml) -> serde_json::Value {
    match y {
        Yaml::Bool(b) => (*b).into(),
        Yaml::Int(i) => (*i).into(),
        Yaml::Float(f) => serde_json::Number::from_f64(*f)
            .map(Into::into)
            .unwrap_or_default(),
        Yaml::Str(s) => s.clone().into(),
        Yaml::Seq(v) => v.iter().map(yaml_json).collect(),
        Yaml::Map(m) => m.iter().map(|(k, v)| (k.clone(), yaml_json(v))).collect(),
    }
}

/// Parses a config file; the error is one line, `LINE:COL: message`.
pub fn parse_file(text: &str) -> std::result::Result<FileOptions, String> {
    if text.trim().is_empty() {
        return Ok(FileOptions::default());
    }
    let cfg: FileOptions = serde_saphyr::from_str(text).map_err(|e| one_line_yaml_error(&e))?;
    for (name, section) in cfg.repos.iter().flatten() {
        if section.repos.is_some() || section.scope.is_some() || section.enabled.is_some() {
            return Err(format!(
                " repos.{name}: `repos`, `scope` and `enabled` are only allowed at the top level"
            ));
        }
    }
    Ok(cfg)
}

pub fn one_line_yaml_error(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid YAML").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match e.location() {
        Some(loc) => {
            let prefix = format!("line {} column {}: ", loc.line(), loc.column());
            let msg = first.strip_prefix(&prefix).unwrap_or(first);
            format!("{}:{}: {msg}", loc.line(), loc.column())
        }
        None => format!(" {first}"),
    }
}

impl Settings {
    /// Kill-switch and scope as the resolved settings say (for `config`;
    /// `run` decides them first, with `skip_reason`).
    pub fn skipped_because(&self) -> Option<String> {
        if !self.enabled {
            return Some(format!("runner disabled by {}", self.source_of("enabled")));
        }
        match &self.scope {
            Some(list) if !list.0.iter().any(|r| r == &self.repo) => Some(format!(
                "repo `{}` is outside the runner's scope [{}] ({})",
                self.repo,
                list.0.join(", "),
                self.source_of("scope")
            )),
            _ => None,
        }
    }

    pub fn source_of(&self, key: &str) -> Source {
        self.provenance
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.source.clone())
            .unwrap_or(Source::Default)
    }
}

#[cfg(test)]
mod tests;
