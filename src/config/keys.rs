//! The one list of configuration keys. Each line gives the key's type (which
//! validates it), its environment variable and its flag; the file layer, the
//! typed `Settings`, the docs table and `stagerun config` all come from it.
//! Defaults live in defaults.yaml, nowhere else.

use super::layers::{Layers, Provenance};
use super::values::*;

/// One key, for help, docs and `stagerun config`.
pub struct KeyDoc {
    pub name: &'static str,
    pub env: &'static str,
    pub flag: Option<&'static str>,
    pub shape: &'static str,
    pub doc: &'static str,
}

macro_rules! keys {
    ($( #[doc = $doc:literal] $name:ident : $ty:ty, env $env:literal $(, flag $flag:literal)? ;)*) => {
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
                flag: keys!(@flag $($flag)?),
                shape: <$ty as Value>::SHAPE,
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
            pub(super) fn from_layers(
                layers: &Layers,
                repo: String,
                config_file: Option<std::path::PathBuf>,
            ) -> crate::error::Result<Settings> {
                let mut provenance = Vec::new();
                $( let $name: $ty = layers.get(stringify!($name), &mut provenance)?; )*
                Ok(Settings { $( $name, )* repo, config_file, provenance })
            }
        }
    };
    (@flag) => { None };
    (@flag $f:literal) => { Some($f) };
}

keys! {
    /// Kill-switch: false skips every run (exit 3), whatever else is configured.
    enabled: bool, env "ORCH_STAGING_RUNNER_ENABLED";
    /// Repositories the runner serves; others are skipped (exit 3).
    scope: Option<RepoList>, env "ORCH_STAGING_RUNNER_REPOS";
    /// Where the engine command runs: ssh (the staging host), local, or docker (= local + engine docker).
    transport: Option<TransportName>, env "ORCH_STAGING_RUNNER_TRANSPORT", flag "transport";
    /// How the suite's environment is entered: docker, podman, kubectl or none.
    engine: Option<EngineName>, env "ORCH_STAGING_RUNNER_ENGINE", flag "engine";
    /// false: run the engine on this machine (the legacy local docker path).
    exec_host_side: bool, env "ORCH_STAGING_RUNNER_EXEC_HOST_SIDE";
    /// Staging host (ssh).
    host: Option<Host>, env "ORCH_STAGING_RUNNER_HOST", flag "host";
    /// ssh user.
    user: Option<User>, env "ORCH_STAGING_RUNNER_USER", flag "user";
    /// ssh port.
    port: Option<Port>, env "ORCH_STAGING_RUNNER_PORT", flag "port";
    /// Container the suite runs in (docker, podman; kubectl's -c).
    container: Option<Name>, env "ORCH_STAGING_RUNNER_CONTAINER", flag "container";
    /// Pod the suite runs in (kubectl).
    pod: Option<Name>, env "ORCH_STAGING_RUNNER_POD", flag "pod";
    /// Kubernetes namespace (kubectl).
    namespace: Option<K8sName>, env "ORCH_STAGING_RUNNER_NAMESPACE", flag "namespace";
    /// kubeconfig context (kubectl).
    kube_context: Option<Word>, env "ORCH_STAGING_RUNNER_KUBE_CONTEXT", flag "kube-context";
    /// Extra options between `docker exec` and the container.
    docker_options: ExecOptions, env "ORCH_STAGING_RUNNER_DOCKER_OPTIONS";
    /// Extra options between `podman exec` and the container.
    podman_options: ExecOptions, env "ORCH_STAGING_RUNNER_PODMAN_OPTIONS";
    /// Folder for per-work-item locks where the suite runs.
    remote_state_dir: RemotePath, env "ORCH_STAGING_RUNNER_REMOTE_STATE_DIR";
    /// Path of the check script (inside the container for container engines).
    check_script: RemotePath, env "ORCH_STAGING_RUNNER_CHECK_SCRIPT", flag "check-script";
    /// Interpreter for the check script.
    python: Program, env "ORCH_STAGING_RUNNER_PYTHON", flag "python";
    /// Mode passed to the check script.
    mode: Mode, env "ORCH_STAGING_RUNNER_MODE", flag "mode";
    /// What the suite prints: checks (ID STATUS detail lines), tap, or junit (an XML report).
    suite_format: SuiteFormat, env "ORCH_STAGING_RUNNER_SUITE_FORMAT", flag "suite-format";
    /// junit: where the suite writes its report (where it runs).
    suite_report: Option<RemotePath>, env "ORCH_STAGING_RUNNER_SUITE_REPORT", flag "suite-report";
    /// junit: what an <error> testcase means: failed, or hold.
    junit_errors: JunitErrors, env "ORCH_STAGING_RUNNER_JUNIT_ERRORS";
    /// Work-item ids must match this.
    id_pattern: IdPattern, env "ORCH_STAGING_RUNNER_ID_PATTERN";
    /// A check line of the checks format, with groups id, status and detail.
    check_line_pattern: CheckPattern, env "ORCH_STAGING_RUNNER_CHECK_LINE_PATTERN";
    /// Extra classification rules (YAML), tried before the built-in ones.
    rules: Option<LocalPath>, env "ORCH_STAGING_RUNNER_RULES", flag "rules";
    /// ssh identity file.
    identity_file: Option<LocalPath>, env "ORCH_STAGING_RUNNER_IDENTITY_FILE", flag "identity-file";
    /// known_hosts file for strict host key checking.
    known_hosts: Option<LocalPath>, env "ORCH_STAGING_RUNNER_KNOWN_HOSTS", flag "known-hosts";
    /// ssh config file (-F).
    ssh_config: Option<LocalPath>, env "ORCH_STAGING_RUNNER_SSH_CONFIG";
    /// Extra ssh options, Key=value each.
    ssh_options: SshOptions, env "ORCH_STAGING_RUNNER_SSH_OPTIONS";
    /// ssh connect timeout.
    connect_timeout: Positive, env "ORCH_STAGING_RUNNER_CONNECT_TIMEOUT";
    /// ssh keep-alive interval (three missed answers end the connection).
    server_alive_interval: Positive, env "ORCH_STAGING_RUNNER_SERVER_ALIVE_INTERVAL";
    /// One ssh master connection per invocation for every command.
    connection_reuse: bool, env "ORCH_STAGING_RUNNER_CONNECTION_REUSE";
    /// Keep the ssh master this long for later invocations (0: off).
    connection_persist: NonNegative, env "ORCH_STAGING_RUNNER_CONNECTION_PERSIST", flag "persist";
    /// Time limit of one attempt.
    timeout: Positive, env "ORCH_STAGING_RUNNER_TIMEOUT", flag "timeout";
    /// Time limit of the whole run, retries included.
    deadline: Option<Positive>, env "ORCH_STAGING_RUNNER_DEADLINE", flag "deadline";
    /// Between TERM and KILL when stopping the suite.
    grace: NonNegative, env "ORCH_STAGING_RUNNER_GRACE";
    /// A progress line after this long without output.
    heartbeat: Positive, env "ORCH_STAGING_RUNNER_HEARTBEAT";
    /// Retries of transient infrastructure faults.
    infra_retries: Retries, env "ORCH_STAGING_RUNNER_INFRA_RETRIES", flag "retries";
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
    push: bool, env "ORCH_STAGING_RUNNER_PUSH", flag "no-push";
    /// git remote to push to.
    push_remote: Word, env "ORCH_STAGING_RUNNER_PUSH_REMOTE";
    /// Branch to push to (default: the checked-out branch, or the CI's branch).
    push_branch: Option<Branch>, env "ORCH_STAGING_RUNNER_PUSH_BRANCH";
    /// Time limit of the commit and push.
    push_timeout: Positive, env "ORCH_STAGING_RUNNER_PUSH_TIMEOUT";
    /// Shell command run on HOLD (STAGERUN_* variables describe the run).
    alert_command: Option<Command>, env "ORCH_STAGING_RUNNER_ALERT_COMMAND";
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
