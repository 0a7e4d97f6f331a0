//! The one list of configuration keys. Each line gives the key's type (which
//! validates it), its environment variable, its flag and the subcommands
//! that take it, and for a key without a default what unset means; the
//! file layer, the flag layer (`cli::KeyFlags`), the typed `Settings`, the
//! help, the man pages and `stagerun config` all come from it. Defaults live
//! in defaults.yaml, nowhere else.

use super::layers::{Layers, Provenance};
use super::values::*;

/// Which subcommands take a key's flag (a key without one is set by its
/// environment variable or a config file only). A bit each.
pub mod takes {
    pub const RUN: u8 = 1;
    pub const PREFLIGHT: u8 = 2;
    pub const DISCONNECT: u8 = 4;
    pub const CLASSIFY: u8 = 8;
    /// The channel to where the suite runs: every command that connects.
    pub const CHANNEL: u8 = RUN | PREFLIGHT | DISCONNECT;
    /// The suite's environment: the commands that enter it.
    pub const ENVIRONMENT: u8 = RUN | PREFLIGHT;
}

/// One key, for help, docs and `stagerun config`.
pub struct KeyDoc {
    pub name: &'static str,
    pub env: &'static str,
    pub flag: Option<Flag>,
    pub shape: &'static str,
    /// The placeholder of the flag's value (default: the flag's name).
    pub metavar: Option<&'static str>,
    /// Its closed set of values, if any.
    pub choices: &'static [&'static str],
    /// What it means when no layer sets it (keys without a default).
    pub unset: Option<&'static str>,
    /// A key without a default (`Option<T>`).
    pub optional: bool,
    pub doc: &'static str,
}

/// A key's flag.
pub struct Flag {
    pub long: &'static str,
    /// The `takes` bits of the subcommands that take it.
    pub takes: u8,
    /// A switch that sets the key to this value (`--no-push`: `push` false),
    /// with its own help; None: the flag takes the value.
    pub switch: Option<(&'static str, &'static str)>,
}

impl KeyDoc {
    /// Its description, as help shows it (no leading space, no final period).
    pub fn text(&self) -> &'static str {
        self.doc.trim().trim_end_matches('.')
    }

    /// Its flag, if the subcommand with these `takes` bits has it.
    pub fn flag_for(&self, takes: u8) -> Option<&Flag> {
        self.flag.as_ref().filter(|f| f.takes & takes != 0)
    }
}

macro_rules! keys {
    ($( #[doc = $doc:literal] $name:ident : $ty:ty, env $env:literal
        $(, flag $flag:literal $(= $set:literal, $flag_doc:literal)? in $takes:expr)?
        $(, unset $unset:literal)? ;)*) => {
        /// One section of a config file: every key, as written.
        #[derive(Debug, Default, Clone, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct FileOptions {
            $( #[serde(default)] pub $name: Option<serde_saphyr::Spanned<Yaml>>, )*
            #[serde(default)]
            pub repos: Option<std::collections::BTreeMap<String, FileOptions>>,
        }

        /// Every key, typed and validated.
        #[derive(Debug, Clone)]
        pub struct Settings {
            $( #[doc = $doc] pub $name: $ty, )*
            /// The repository this run is for (selects its `repos.NAME` section).
            pub repo: String,
            /// The config file read, if any.
            pub config_file: Option<std::path::PathBuf>,
            pub provenance: Vec<Provenance>,
        }

        pub const KEYS: &[KeyDoc] = &[
            $( KeyDoc {
                name: stringify!($name),
                env: $env,
                flag: keys!(@flag $($flag $(= $set, $flag_doc)? in $takes)?),
                shape: <$ty as Value>::SHAPE,
                metavar: <$ty as Value>::METAVAR,
                choices: <$ty as Value>::CHOICES,
                unset: keys!(@opt $($unset)?),
                optional: <$ty as Value>::OPTIONAL,
                doc: $doc,
            }, )*
        ];

        impl FileOptions {
            /// The keys set in this section, with their written values.
            pub fn entries(&self) -> Vec<(&'static str, &serde_saphyr::Spanned<Yaml>)> {
                let mut v = Vec::new();
                $( if let Some(x) = &self.$name { v.push((stringify!($name), x)); } )*
                v
            }
        }

        impl Settings {
            /// Every key from its layer; every bad value, not only the first.
            pub(super) fn from_layers(
                layers: &Layers,
                repo: String,
                config_file: Option<std::path::PathBuf>,
            ) -> std::result::Result<Settings, Vec<crate::error::Error>> {
                let mut provenance = Vec::new();
                let mut problems = Vec::new();
                $( let $name: Option<$ty> = layers
                    .get(stringify!($name), &mut provenance)
                    .map_err(|e| problems.push(e))
                    .ok(); )*
                let ($( Some($name), )*) = ($( $name, )*) else {
                    return Err(problems);
                };
                Ok(Settings { $( $name, )* repo, config_file, provenance })
            }
        }
    };
    (@flag) => { None };
    (@flag $f:literal in $takes:expr) => {
        Some(Flag { long: $f, takes: $takes, switch: None })
    };
    (@flag $f:literal = $set:literal, $doc:literal in $takes:expr) => {
        Some(Flag { long: $f, takes: $takes, switch: Some(($set, $doc)) })
    };
    (@opt) => { None };
    (@opt $v:literal) => { Some($v) };
}

use takes::*;

keys! {
    /// Kill-switch: false skips every run (exit 3), whatever else is configured.
    enabled: bool, env "ORCH_STAGING_RUNNER_ENABLED";
    /// Repositories the runner serves; others are skipped (exit 3).
    scope: Option<RepoList>, env "ORCH_STAGING_RUNNER_REPOS",
        unset "every repository";
    /// Where the engine command runs: ssh (the staging host), local, or docker (= local + engine docker).
    transport: Option<TransportName>, env "ORCH_STAGING_RUNNER_TRANSPORT", flag "transport" in CHANNEL,
        unset "ssh (local when exec_host_side is false)";
    /// How the suite's environment is entered: docker, podman, kubectl or none.
    engine: Option<EngineName>, env "ORCH_STAGING_RUNNER_ENGINE", flag "engine" in ENVIRONMENT,
        unset "docker (none with --transport local)";
    /// false: run the engine on this machine (the legacy local docker path).
    exec_host_side: bool, env "ORCH_STAGING_RUNNER_EXEC_HOST_SIDE";
    /// Staging host (ssh).
    host: Option<Host>, env "ORCH_STAGING_RUNNER_HOST", flag "host" in CHANNEL,
        unset "none; the ssh transport needs one";
    /// ssh user on the staging host.
    user: Option<User>, env "ORCH_STAGING_RUNNER_USER", flag "user" in CHANNEL,
        unset "ssh's own (your ssh config, or your login name)";
    /// ssh port on the staging host.
    port: Option<Port>, env "ORCH_STAGING_RUNNER_PORT", flag "port" in CHANNEL,
        unset "ssh's own (your ssh config, or 22)";
    /// Container the suite runs in (docker, podman; kubectl's -c).
    container: Option<Name>, env "ORCH_STAGING_RUNNER_CONTAINER", flag "container" in ENVIRONMENT,
        unset "none; the docker, podman and kubectl engines need one";
    /// Pod the suite runs in (kubectl).
    pod: Option<Name>, env "ORCH_STAGING_RUNNER_POD", flag "pod" in ENVIRONMENT,
        unset "none; the kubectl engine needs one";
    /// Kubernetes namespace (kubectl).
    namespace: Option<K8sName>, env "ORCH_STAGING_RUNNER_NAMESPACE", flag "namespace" in ENVIRONMENT,
        unset "the kubeconfig context's namespace";
    /// kubeconfig context (kubectl).
    kube_context: Option<Word>, env "ORCH_STAGING_RUNNER_KUBE_CONTEXT", flag "kube-context" in ENVIRONMENT,
        unset "the kubeconfig's current context";
    /// Extra options between `docker exec` and the container.
    docker_options: ExecOptions, env "ORCH_STAGING_RUNNER_DOCKER_OPTIONS";
    /// Extra options between `podman exec` and the container.
    podman_options: ExecOptions, env "ORCH_STAGING_RUNNER_PODMAN_OPTIONS";
    /// Folder for per-work-item locks where the suite runs.
    remote_state_dir: RemotePath, env "ORCH_STAGING_RUNNER_REMOTE_STATE_DIR";
    /// Path of the check script (inside the container for container engines).
    check_script: RemotePath, env "ORCH_STAGING_RUNNER_CHECK_SCRIPT", flag "check-script" in ENVIRONMENT;
    /// Interpreter for the check script.
    python: Program, env "ORCH_STAGING_RUNNER_PYTHON", flag "python" in ENVIRONMENT;
    /// Mode passed to the check script.
    mode: Mode, env "ORCH_STAGING_RUNNER_MODE", flag "mode" in RUN;
    /// What the suite prints: checks (ID STATUS detail lines), tap, or junit (an XML report at --suite-report).
    suite_format: SuiteFormat, env "ORCH_STAGING_RUNNER_SUITE_FORMAT", flag "suite-format" in RUN | CLASSIFY;
    /// junit: where the suite writes its report (where it runs).
    suite_report: Option<RemotePath>, env "ORCH_STAGING_RUNNER_SUITE_REPORT", flag "suite-report" in RUN,
        unset "none; the junit format needs one";
    /// junit: what an <error> testcase means: failed, or hold.
    junit_errors: JunitErrors, env "ORCH_STAGING_RUNNER_JUNIT_ERRORS";
    /// Work-item ids must match this.
    id_pattern: IdPattern, env "ORCH_STAGING_RUNNER_ID_PATTERN";
    /// A check line of the checks format, with groups id, status and detail.
    check_line_pattern: CheckPattern, env "ORCH_STAGING_RUNNER_CHECK_LINE_PATTERN";
    /// Extra classification rules (YAML), tried before the built-in ones.
    rules: Option<LocalPath>, env "ORCH_STAGING_RUNNER_RULES", flag "rules" in RUN | PREFLIGHT | CLASSIFY,
        unset "the built-in rules only";
    /// ssh identity file.
    identity_file: Option<LocalPath>, env "ORCH_STAGING_RUNNER_IDENTITY_FILE", flag "identity-file" in CHANNEL,
        unset "ssh's own keys (your ssh config, the agent)";
    /// known_hosts file for strict host key checking.
    known_hosts: Option<LocalPath>, env "ORCH_STAGING_RUNNER_KNOWN_HOSTS", flag "known-hosts" in CHANNEL,
        unset "ssh's own known_hosts files";
    /// ssh config file (-F).
    ssh_config: Option<LocalPath>, env "ORCH_STAGING_RUNNER_SSH_CONFIG",
        unset "ssh's own (~/.ssh/config)";
    /// Extra ssh options, Key=value each.
    ssh_options: SshOptions, env "ORCH_STAGING_RUNNER_SSH_OPTIONS";
    /// ssh connect timeout.
    connect_timeout: Positive, env "ORCH_STAGING_RUNNER_CONNECT_TIMEOUT";
    /// ssh keep-alive interval (three missed answers end the connection).
    server_alive_interval: Positive, env "ORCH_STAGING_RUNNER_SERVER_ALIVE_INTERVAL";
    /// One ssh master connection per invocation for every command.
    connection_reuse: bool, env "ORCH_STAGING_RUNNER_CONNECTION_REUSE";
    /// Keep the ssh master this long for later invocations (0: close it when the command ends).
    connection_persist: NonNegative, env "ORCH_STAGING_RUNNER_CONNECTION_PERSIST", flag "persist" in ENVIRONMENT;
    /// Time limit of one attempt (seconds, or like 15m).
    timeout: Positive, env "ORCH_STAGING_RUNNER_TIMEOUT", flag "timeout" in RUN;
    /// Time limit of the whole run, retries included (seconds, or like 40m).
    deadline: Option<Positive>, env "ORCH_STAGING_RUNNER_DEADLINE", flag "deadline" in RUN,
        unset "none: the attempts' timeouts, retries and backoff bound the run";
    /// Between TERM and KILL when stopping the suite.
    grace: NonNegative, env "ORCH_STAGING_RUNNER_GRACE";
    /// A progress line after this long without output.
    heartbeat: Positive, env "ORCH_STAGING_RUNNER_HEARTBEAT";
    /// Retries of transient infrastructure faults.
    infra_retries: Retries, env "ORCH_STAGING_RUNNER_INFRA_RETRIES", flag "retries" in RUN;
    /// First backoff step before a retry.
    backoff_base: NonNegative, env "ORCH_STAGING_RUNNER_BACKOFF_BASE";
    /// Largest backoff step.
    backoff_cap: NonNegative, env "ORCH_STAGING_RUNNER_BACKOFF_CAP";
    /// Connections tried in a row to read on when the channel is lost mid-suite (0: never).
    reattach_attempts: Reattaches, env "ORCH_STAGING_RUNNER_REATTACH_ATTEMPTS";
    /// How long the suite's follower waits for stagerun's keepalive before it leaves the run to a later invocation.
    reattach_lease: Positive, env "ORCH_STAGING_RUNNER_REATTACH_LEASE";
    /// The suite's spooled output kept where it runs, per stream; past it, output is not kept.
    spool_limit: Size, env "ORCH_STAGING_RUNNER_SPOOL_LIMIT";
    /// How long the same command may adopt a run's end that nobody collected.
    adopt_within: Positive, env "ORCH_STAGING_RUNNER_ADOPT_WITHIN";
    /// Commit and push the log to the work item's branch (best effort).
    push: bool, env "ORCH_STAGING_RUNNER_PUSH",
        flag "no-push" = "false", "Do not commit and push the log" in RUN;
    /// git remote to push to.
    push_remote: Word, env "ORCH_STAGING_RUNNER_PUSH_REMOTE";
    /// Branch to push to.
    push_branch: Option<Branch>, env "ORCH_STAGING_RUNNER_PUSH_BRANCH",
        unset "the checked-out branch, or the CI's branch";
    /// Time limit of the commit and push.
    push_timeout: Positive, env "ORCH_STAGING_RUNNER_PUSH_TIMEOUT";
    /// Shell command run on HOLD (STAGERUN_* variables describe the run).
    alert_command: Option<Command>, env "ORCH_STAGING_RUNNER_ALERT_COMMAND",
        unset "none: no alert";
    /// stdout/stderr lines kept in the log.
    tail_lines: TailLines, env "ORCH_STAGING_RUNNER_TAIL_LINES";
    /// A failing run says what each failing check's history (the staging logs in git) says.
    history: bool, env "ORCH_STAGING_RUNNER_HISTORY";
    /// History figures cover each check's last this many runs (0: every run).
    history_window: HistoryWindow, env "ORCH_STAGING_RUNNER_HISTORY_WINDOW";
    /// A check that failed in each of its last this many runs is broken.
    history_broken_after: HistoryRuns, env "ORCH_STAGING_RUNNER_HISTORY_BROKEN_AFTER";
    /// A check needs at least this many runs to be called flaky.
    history_flaky_min_runs: HistoryRuns, env "ORCH_STAGING_RUNNER_HISTORY_FLAKY_MIN_RUNS";
    /// A check whose flip rate (flips / (runs - 1)) is at or above this is flaky.
    history_flaky_flip_rate: Rate, env "ORCH_STAGING_RUNNER_HISTORY_FLAKY_FLIP_RATE";
    /// Time limit for reading the history at the end of a failing run.
    history_timeout: Positive, env "ORCH_STAGING_RUNNER_HISTORY_TIMEOUT";
}
