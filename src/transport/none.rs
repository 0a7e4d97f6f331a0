//! No engine: the suite runs directly where the channel lands (this
//! machine, or the staging host itself).

use super::{Engine, Step};
use crate::config::EngineName;

pub struct NoEngine;

impl Engine for NoEngine {
    fn name(&self) -> EngineName {
        EngineName::None
    }
    fn exec(&self, inner: Vec<String>) -> Vec<String> {
        inner
    }
    fn preflight(&self) -> Vec<Step> {
        Vec::new()
    }
}
