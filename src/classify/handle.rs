//! The rule set as a run sees it: the built-ins parsed before the suite
//! starts, each family's pattern sets compiled on first use.

use super::rules::compile_set;
use super::{FAMILIES, Family, PatternUse, RuleSet};
use crate::error::Result;
use regex::bytes::RegexSet;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// A pattern set compiled the first time a line must be matched with it:
/// most runs never need one (a passing suite with a quiet channel), and
/// compiling the built-in table costs more than the rest of a trivial run.
#[derive(Default)]
pub struct LazySet {
    patterns: OnceLock<Vec<String>>,
    set: OnceLock<RegexSet>,
}

impl LazySet {
    /// Compiled already.
    pub fn ready(&self) -> Option<&RegexSet> {
        self.set.get()
    }

    /// Compiles it now if nobody has.
    pub fn get(&self) -> &RegexSet {
        self.set.get_or_init(|| {
            // Only the built-in table comes here uncompiled, and it compiles
            // in every test run; a failure would be "no rule matched".
            compile_set(self.patterns.wait()).unwrap_or_else(|_| RegexSet::empty())
        })
    }

    #[cfg(test)]
    pub fn publish(&self, patterns: Vec<String>) {
        let _ = self.patterns.set(patterns);
    }

    #[cfg(test)]
    pub fn compiled(set: RegexSet) -> Arc<LazySet> {
        let lazy = LazySet::default();
        let _ = lazy.patterns.set(Vec::new());
        let _ = lazy.set.set(set);
        Arc::new(lazy)
    }
}

/// One family's pattern sets, per stream.
#[derive(Clone, Default)]
pub struct Sets {
    pub stderr: Arc<LazySet>,
    pub stdout: Arc<LazySet>,
    /// Known as soon as the rules are parsed, long before the sets compile.
    pub pattern_use: Arc<OnceLock<PatternUse>>,
}

/// The rule set for a run. The built-in rules are known to be valid: they
/// are parsed before the suite starts, and their pattern sets compile
/// only when a line has to be matched (the scanners
/// buffer lines until then, and drop them when the exit code shows no rule
/// with a pattern can apply). A user rules file is loaded and compiled up
/// front, so its errors stop the run before anything runs.
#[derive(Clone)]
pub struct RulesHandle {
    pub sets: [Sets; 2],
    rules: Arc<OnceLock<RuleSet>>,
}

impl RulesHandle {
    pub fn ready(mut rules: RuleSet) -> RulesHandle {
        let h = RulesHandle::empty();
        h.publish_use(&rules);
        for family in FAMILIES {
            let _ = rules.compile_family(family, None);
            h.publish_family(&rules, family);
        }
        let _ = h.rules.set(rules);
        h
    }

    /// The built-in rules, parsed here: their pattern sets still compile
    /// only when a line has to be matched. (A thread to parse them while the
    /// suite starts cost more than the parse: its stack, its malloc arena and
    /// their page faults, ~0.3 ms of a trivial run.)
    pub fn builtin() -> RulesHandle {
        let h = RulesHandle::empty();
        // An impossible failure degrades to "no rule matched", which is
        // transient, never FAILED.
        let rules = RuleSet::parse(None).unwrap_or_else(|_| RuleSet {
            rules: Vec::new(),
            patterns: Default::default(),
            pattern_use: [PatternUse::Always, PatternUse::Always],
            compiled: [None, None],
        });
        h.publish_use(&rules);
        h.publish_patterns(&rules);
        let _ = h.rules.set(rules);
        h
    }

    /// The built-ins, or a user file (compiled up front).
    pub fn for_file(path: Option<&Path>) -> Result<RulesHandle> {
        Ok(match path {
            Some(p) => RulesHandle::ready(RuleSet::load(Some(p))?),
            None => RulesHandle::builtin(),
        })
    }

    fn empty() -> RulesHandle {
        RulesHandle {
            sets: Default::default(),
            rules: Arc::new(OnceLock::new()),
        }
    }

    fn publish_use(&self, rules: &RuleSet) {
        for family in FAMILIES {
            let _ = self.sets[family as usize]
                .pattern_use
                .set(rules.pattern_use[family as usize].clone());
        }
    }

    fn publish_patterns(&self, rules: &RuleSet) {
        for family in FAMILIES {
            let (p, sets) = (
                &rules.patterns[family as usize],
                &self.sets[family as usize],
            );
            let _ = sets.stderr.patterns.set(p.stderr.clone());
            let _ = sets.stdout.patterns.set(p.stdout.clone());
        }
    }

    fn publish_family(&self, rules: &RuleSet, family: Family) {
        let (e, o) = rules.compiled[family as usize]
            .clone()
            .unwrap_or_else(|| (RegexSet::empty(), RegexSet::empty()));
        let sets = &self.sets[family as usize];
        let _ = sets.stderr.patterns.set(Vec::new());
        let _ = sets.stdout.patterns.set(Vec::new());
        let _ = sets.stderr.set.set(e);
        let _ = sets.stdout.set.set(o);
    }

    /// The rules (parsed when the handle was made).
    pub fn get(&self) -> &RuleSet {
        self.rules.wait()
    }
}
