//! What happened, in one word: the rules' class and the run's outcome.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    SuiteRan,
    PermanentEnv,
    TransientInfra,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::SuiteRan => "suite-ran",
            Class::PermanentEnv => "permanent-env",
            Class::TransientInfra => "transient-infra",
        }
    }
}

/// What happened, in one word, for the log, JSON and JUnit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    SuiteRan,
    PermanentEnv,
    TransientInfra,
    /// A signal ended the run.
    Interrupted,
    /// Another run holds the work item (here or where the suite runs).
    Busy,
    /// The verdict could not be written (see the log's state).
    Unrecorded,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::SuiteRan => "suite-ran",
            Outcome::PermanentEnv => "permanent-env",
            Outcome::TransientInfra => "transient-infra",
            Outcome::Interrupted => "interrupted",
            Outcome::Busy => "busy",
            Outcome::Unrecorded => "unrecorded",
        }
    }
}

impl From<Class> for Outcome {
    fn from(c: Class) -> Self {
        match c {
            Class::SuiteRan => Outcome::SuiteRan,
            Class::PermanentEnv => Outcome::PermanentEnv,
            Class::TransientInfra => Outcome::TransientInfra,
        }
    }
}
