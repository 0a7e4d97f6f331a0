//! Configuration: one key list (keys.rs), one value type per kind of value
//! (values.rs), layers combined in one place (layers.rs), every default in
//! defaults.yaml. `resolve` (resolve.rs) is the one way to `Settings`.

mod keys;
mod layers;
mod resolve;
mod values;

pub use keys::{FileOptions, Flag, KEYS, KeyDoc, Settings, takes};
pub use layers::Source;
pub use resolve::{ChannelName, Purpose, Request, not_set, resolve, resolve_with, skip_reason};
pub use values::*;

use crate::error::{Error, Result};
use layers::Layer;

pub const DEFAULTS: &str = include_str!("defaults.yaml");
pub const ENV_CONFIG: &str = "STAGERUN_CONFIG";

/// Reads the environment through a function, so tests resolve without
/// touching the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// defaults.yaml, converted to JSON by build.rs (parsing the YAML at every
/// start was half of a dry run's time).
const DEFAULTS_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/defaults.json"));

/// Every default, in the order of the key list; read once per process
/// (the kill-switch and the full resolution both need them).
fn default_values() -> Result<Vec<(&'static str, Yaml)>> {
    static VALUES: std::sync::OnceLock<std::result::Result<Vec<(&str, Yaml)>, String>> =
        std::sync::OnceLock::new();
    VALUES
        .get_or_init(read_defaults)
        .clone()
        .map_err(|why| Error::Internal(format!("built-in defaults: {why}")))
}

fn read_defaults() -> std::result::Result<Vec<(&'static str, Yaml)>, String> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(DEFAULTS_JSON).map_err(|e| e.to_string())?;
    let mut values = Vec::new();
    for (key, value) in map {
        let known = keys::KEYS
            .iter()
            .position(|d| d.name == key)
            .ok_or_else(|| format!("unknown key `{key}`"))?;
        let value = <Yaml as serde::Deserialize>::deserialize(value)
            .map_err(|e| format!("`{key}`: {e}"))?;
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
    let cfg: FileOptions =
        serde_saphyr::from_str(text).map_err(|e| unknown_key(one_line_yaml_error(&e)))?;
    for (name, section) in cfg.repos.iter().flatten() {
        if section.repos.is_some() || section.scope.is_some() || section.enabled.is_some() {
            return Err(format!(
                " repos.{name}: `repos`, `scope` and `enabled` are only allowed at the top level"
            ));
        }
    }
    Ok(cfg)
}

/// serde's "unknown field `X`, expected one of" and all 56 names, as the
/// nearest key and where the whole list is.
fn unknown_key(msg: String) -> String {
    let Some((head, _)) = msg.split_once(", expected one of") else {
        return msg;
    };
    let Some(word) = head.rsplit('`').nth(1) else {
        return msg;
    };
    let known = KEYS.iter().map(|k| k.name).chain(["repos"]);
    format!(
        "{head}: not a configuration key{}; `stagerun config --defaults` lists every key",
        crate::suggest::did_you_mean(word, known)
    )
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
