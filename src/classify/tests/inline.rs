use super::*;
use Scope::{Channel, Suite};

/// (rule, scope, exit, stderr) for messages without a recording.
pub(super) const INLINE_CASES: &[(&str, Scope, i32, &str)] = &[
    (
        "ssh-no-route",
        Channel,
        255,
        "ssh: connect to host 10.1.2.3 port 22: No route to host\n",
    ),
    (
        "ssh-no-route",
        Channel,
        255,
        "ssh: connect to host 10.1.2.3 port 22: Network is unreachable\n",
    ),
    (
        "ssh-connection-reset",
        Channel,
        255,
        "kex_exchange_identification: read: Connection reset by peer\nConnection reset by 10.1.2.3 port 22\n",
    ),
    (
        "ssh-kex-closed",
        Channel,
        255,
        "kex_exchange_identification: Connection closed by remote host\nConnection closed by 10.1.2.3 port 22\n",
    ),
    (
        "ssh-closed-by-remote",
        Channel,
        255,
        "client_loop: send disconnect: Broken pipe\n",
    ),
    (
        "ssh-resolve-temporary",
        Channel,
        255,
        "ssh: Could not resolve hostname staging-1: Temporary failure in name resolution\n",
    ),
    (
        "ssh-host-key-verification-failed",
        Channel,
        255,
        "Host key verification failed.\n",
    ),
    (
        "ssh-bad-config",
        Channel,
        255,
        "/root/.ssh/config: line 3: Bad configuration option: proxyjumpp\n/root/.ssh/config: terminating, 1 bad configuration options\n",
    ),
    (
        "docker-cli-missing",
        Channel,
        127,
        "zsh:1: command not found: docker\n",
    ),
    (
        "docker-cli-missing",
        Channel,
        127,
        "bash: line 1: docker: command not found\n",
    ),
    (
        "podman-cli-missing",
        Channel,
        127,
        "sh: 1: podman: not found\n",
    ),
    (
        "kubectl-cli-missing",
        Channel,
        127,
        "bash: line 1: kubectl: command not found\n",
    ),
    (
        "docker-exec-failed",
        Channel,
        126,
        "OCI runtime exec failed: exec failed: unable to start container process: error adding pid 4242 to cgroups: unknown\n",
    ),
    (
        "remote-shell-missing",
        Channel,
        126,
        "OCI runtime exec failed: exec failed: unable to start container process: exec: \"sh\": executable file not found in $PATH: unknown\n",
    ),
    (
        "docker-cli-missing-local",
        Channel,
        127,
        "stagerun: cannot run `docker`: No such file or directory\n",
    ),
    (
        "podman-cli-missing-local",
        Channel,
        127,
        "stagerun: cannot run `podman`: No such file or directory\n",
    ),
    (
        "kubectl-cli-missing-local",
        Channel,
        127,
        "stagerun: cannot run `kubectl`: No such file or directory\n",
    ),
    (
        "ssh-client-missing",
        Channel,
        127,
        "stagerun: cannot run `ssh`: No such file or directory\n",
    ),
    (
        "spawn-failed",
        Channel,
        127,
        "stagerun: cannot run `python3`: No such file or directory\n",
    ),
    // tcsh as the login shell: preflight's script stops it at its first quote.
    ("login-shell-not-posix", Channel, 1, "Unmatched '''.\n"),
    ("login-shell-not-posix", Channel, 1, "Unmatched '\"'.\n"),
    // A client that exists but cannot start (a huge argv) is not missing.
    (
        "ssh-client-missing",
        Channel,
        127,
        "stagerun: cannot run `ssh`: no such file or folder\n",
    ),
    (
        "spawn-failed",
        Channel,
        127,
        "stagerun: cannot run `ssh`: Argument list too long (os error 7)\n",
    ),
    (
        "spawn-failed",
        Channel,
        127,
        "stagerun: cannot run `docker`: permission denied\n",
    ),
    ("remote-killed-by-signal", Suite, 137, ""),
    ("unknown-exit", Suite, 3, "something odd\n"),
    ("unknown-exit", Suite, 1, ""),
    ("unknown-exit", Channel, 255, ""),
];

#[test]
fn inline_messages_match_their_rules() {
    let rules = RuleSet::builtin();
    for &(rule, scope, exit, stderr) in INLINE_CASES {
        let c = classify_in(&rules, scope, Some(exit), None, false, "", stderr);
        assert_eq!(c.rule, rule, "{stderr:?}");
    }
}
