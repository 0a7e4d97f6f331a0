//! Layering: flag > environment > config file's `repos.NAME` section > its
//! top level > built-in defaults. Each layer maps keys to raw values; a key
//! takes the first layer that has it (uv's `Combine`: `self.or(lower)`), and
//! is typed and validated there, so an error names the key and its source.

use super::values::{Ctx, Raw, Value};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File {
        path: PathBuf,
        key: String,
        line: usize,
    },
    Env(String),
    Flag(&'static str),
}

impl Source {
    /// Higher wins; used where two keys decide one thing (transport vs
    /// exec_host_side).
    pub fn rank(&self) -> u8 {
        match self {
            Source::Default => 0,
            Source::File { key, .. } if key.starts_with("repos.") => 2,
            Source::File { .. } => 1,
            Source::Env(_) => 3,
            Source::Flag(_) => 4,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("built-in default"),
            Source::File { path, key, line } => {
                write!(f, "key `{key}` in {} line {line}", path.display())
            }
            Source::Env(name) => write!(f, "environment variable {name}"),
            Source::Flag(name) => write!(f, "flag --{name}"),
        }
    }
}

/// One resolved value and where it came from, for `stagerun config` and errors.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub key: &'static str,
    pub value: String,
    pub source: Source,
}

/// A layer: raw values by key, and the folder its relative paths start from.
#[derive(Debug, Default)]
pub struct Layer {
    pub values: BTreeMap<&'static str, (Raw, Source)>,
    pub base: Option<PathBuf>,
}

/// Combining two layers keeps the higher one's value for each key.
pub trait Combine {
    fn combine(self, lower: Self) -> Self;
}

impl<T> Combine for Option<T> {
    fn combine(self, lower: Self) -> Self {
        self.or(lower)
    }
}

/// The layers, highest first.
pub struct Layers(pub Vec<Layer>);

impl Layers {
    /// Whether any layer sets the key (a bad value counts: it is reported
    /// as bad, not as missing).
    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|layer| layer.values.contains_key(key))
    }

    /// The key's value from the highest layer that has it, typed and
    /// checked; None when no layer has it.
    pub fn find<T: Value>(&self, key: &'static str) -> Result<Option<(T, Source)>> {
        let found = self
            .0
            .iter()
            .map(|layer| {
                layer
                    .values
                    .get(key)
                    .map(|(raw, source)| (raw, source, layer.base.as_deref()))
            })
            .fold(None, Combine::combine);
        let Some((raw, source, base)) = found else {
            return Ok(None);
        };
        let v =
            T::from_raw(raw, &Ctx { base }).map_err(|why| Error::bad_value(key, source, why))?;
        Ok(Some((v, source.clone())))
    }

    /// The key's value and its source; a key no layer sets is absent (only
    /// optional keys may be).
    pub fn value<T: Value>(&self, key: &'static str) -> Result<(T, Source)> {
        match self.find(key)? {
            Some(found) => Ok(found),
            None => T::absent().map(|v| (v, Source::Default)).ok_or_else(|| {
                Error::Internal(format!("configuration key `{key}` has no default"))
            }),
        }
    }

    /// `value`, recorded for `stagerun config` and errors.
    pub fn get<T: Value>(&self, key: &'static str, provenance: &mut Vec<Provenance>) -> Result<T> {
        let (value, source) = self.value::<T>(key)?;
        provenance.push(Provenance {
            key,
            value: value.show(),
            source,
        });
        Ok(value)
    }
}

pub fn file_source(path: &Path, key: String, line: usize) -> Source {
    Source::File {
        path: path.to_path_buf(),
        key,
        line,
    }
}
