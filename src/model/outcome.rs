//! What happened, in one word each: the rules' class and scope, the run's
//! outcome, where the suite got to, whether what it started is gone.

words! {
    /// The rules' answer for one attempt.
    pub enum Class {
        SuiteRan = "suite-ran",
        PermanentEnv = "permanent-env",
        TransientInfra = "transient-infra",
    }
}

words! {
    /// Where the evidence comes from: the channel's stderr and exit, the
    /// suite's own output, or a suite whose channel was lost (`any`: a rule
    /// for every scope).
    #[derive(Default)]
    pub enum Scope {
        Channel = "channel",
        Suite = "suite",
        Lost = "lost",
        #[default]
        Any = "any",
    }
}

words! {
    /// What happened, in one word, for the log, JSON and JUnit.
    pub enum Outcome {
        SuiteRan = "suite-ran",
        PermanentEnv = "permanent-env",
        TransientInfra = "transient-infra",
        /// A signal ended the run.
        Interrupted = "interrupted",
        /// Another run holds the work item (here or where the suite runs).
        Busy = "busy",
        /// The verdict could not be written (see the log's state).
        Unrecorded = "unrecorded",
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

words! {
    /// Where the suite got to, as the markers tell it.
    pub enum Reached {
        /// Run directly here: seen to start and end.
        Direct = "direct",
        NotStarted = "not-started",
        /// Started, never ended: the channel was lost mid-suite.
        Lost = "lost",
        Ended = "ended",
        /// Another run holds the work item where the suite runs.
        Busy = "busy",
        StateError = "state-error",
        /// The wrapper would not start the suite.
        Refused = "refused",
        /// Reattaching found no run to follow: it was lost where it ran.
        RunLost = "run-lost",
    }
}

words! {
    /// Whether what an attempt started where the suite runs is known to be gone.
    pub enum CleanupState {
        /// Nothing was left to stop (the suite ended by itself, or never started).
        NotNeeded = "not-needed",
        /// A stop ran and verified that nothing of the attempt is left.
        Confirmed = "confirmed",
        /// Stopped, but what the suite may have started outside its group
        /// could not be looked for where it runs.
        Unverified = "unverified",
        /// Could not be verified.
        Failed = "failed",
    }
}
