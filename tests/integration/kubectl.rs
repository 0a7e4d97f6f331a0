//! The kubectl engine. No cluster can be reached here, so this is verified
//! against argv building, quoting, preflight planning and the real kubectl
//! client's own messages with no cluster behind it (an empty kubeconfig, an
//! API server address that refuses); the cluster-side messages are covered
//! by the recorded fixtures (fixtures/messages/kubectl-*).

use crate::common::*;
use predicates::prelude::*;

fn kubectl() -> Result<(), String> {
    std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .map(|_| ())
        .map_err(|e| format!("kubectl client not installed ({e})"))
}

fn dry(sb: &Sandbox, item: &std::path::Path, args: &[&str]) -> assert_cmd::assert::Assert {
    stagerun(sb.path())
        .arg("run")
        .arg(item)
        .args(["--repo", "r", "--dry-run", "--json", "--engine", "kubectl"])
        .args(args)
        .assert()
}

#[test]
fn kubectl_argv_is_exact_and_validated() {
    let sb = Sandbox::new();
    let id = uid("ORCH");
    let item = sb.work_item(&id);
    let out = dry(
        &sb,
        &item,
        &[
            "--transport",
            "local",
            "--kube-context",
            "staging",
            "--namespace",
            "orch",
            "--pod",
            "orch-0",
            "--container",
            "app",
        ],
    )
    .code(0)
    .get_output()
    .clone();
    let v = json(&out.stdout);
    let argv: Vec<String> = v["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        &argv[..11],
        [
            "kubectl",
            "--context",
            "staging",
            "-n",
            "orch",
            "exec",
            "-i",
            "orch-0",
            "-c",
            "app",
            "--"
        ]
    );
    assert_eq!(&argv[11..13], ["sh", "-c"]);
    assert!(argv.ends_with(&[
        "python3".into(),
        "staging_check.py".into(),
        "--work-item".into(),
        id.clone(),
        "--mode".into(),
        "stub".into()
    ]));
    // Over ssh to a bastion: the same command, quoted for the remote shell.
    let out = dry(
        &sb,
        &item,
        &["--host", "bastion", "--pod", "orch-0", "--container", "app"],
    )
    .code(0)
    .get_output()
    .clone();
    let v = json(&out.stdout);
    let remote = v["argv"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        remote.starts_with("kubectl exec -i orch-0 -c app -- sh -c "),
        "{remote}"
    );
    // No -c: refused, rather than letting kubectl pick a container.
    dry(&sb, &item, &["--transport", "local", "--pod", "orch-0"])
        .code(78)
        .stderr(
            predicate::str::contains("`container` is not set").and(predicate::str::contains("-c")),
        );
    dry(&sb, &item, &["--transport", "local", "--container", "app"])
        .code(78)
        .stderr(predicate::str::contains("`pod` is not set"));
    // Values reach an argv: validated.
    dry(
        &sb,
        &item,
        &[
            "--transport",
            "local",
            "--pod",
            "orch-0;reboot",
            "--container",
            "app",
        ],
    )
    .code(78)
    .stderr(predicate::str::contains("`pod`"));
    dry(
        &sb,
        &item,
        &[
            "--transport",
            "local",
            "--pod",
            "p",
            "--container",
            "app",
            "--namespace",
            "Bad_NS",
        ],
    )
    .code(78);
    dry(
        &sb,
        &item,
        &[
            "--transport",
            "local",
            "--pod",
            "p",
            "--container",
            "app",
            "--kube-context=--all",
        ],
    )
    .code(78)
    .stderr(predicate::str::contains("kube_context"));
}

#[test]
fn with_no_cluster_kubectls_own_words_are_classified() {
    if !require("kubectl client", kubectl()) {
        return;
    }
    let sb = Sandbox::new();
    // An empty kubeconfig and a missing context: permanent, one attempt.
    let empty = sb.write("empty.kubeconfig", "");
    let item = sb.work_item(&uid("ORCH"));
    stagerun(sb.path())
        .arg("run")
        .arg(&item)
        .args([
            "--repo",
            "r",
            "--transport",
            "local",
            "--engine",
            "kubectl",
            "--pod",
            "p",
            "--container",
            "c",
            "--kube-context",
            "nosuch",
            "--no-push",
        ])
        .env("KUBECONFIG", &empty)
        .assert()
        .code(75);
    assert_eq!(
        front(&item, "rule").as_deref(),
        Some("kubectl-context-missing"),
        "{}",
        log_text(&item)
    );
    assert_eq!(attempts(&item), 1);
    // An API server address that refuses (loopback): transient, retried.
    let refused = sb.write(
        "refused.kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: { server: 'https://127.0.0.1:1' }\ncontexts:\n- name: x\n  context: { cluster: c, user: u }\ncurrent-context: x\nusers:\n- name: u\n  user: { token: t }\n",
    );
    let item = sb.work_item(&uid("ORCH"));
    stagerun(sb.path())
        .arg("run")
        .arg(&item)
        .args([
            "--repo",
            "r",
            "--transport",
            "local",
            "--engine",
            "kubectl",
            "--pod",
            "p",
            "--container",
            "c",
            "--no-push",
            "--retries",
            "1",
        ])
        .env("KUBECONFIG", &refused)
        .env("ORCH_STAGING_RUNNER_BACKOFF_BASE", "0.01")
        .assert()
        .code(75);
    assert_eq!(
        front(&item, "rule").as_deref(),
        Some("kubectl-api-refused"),
        "{}",
        log_text(&item)
    );
    assert_eq!(attempts(&item), 2);
    // Preflight plans the kubectl steps and stops at the first failure, in
    // the rules' words.
    let out = stagerun(sb.path())
        .args([
            "preflight",
            "--repo",
            "r",
            "--transport",
            "local",
            "--engine",
            "kubectl",
            "--pod",
            "p",
            "--container",
            "c",
            "--json",
        ])
        .env("KUBECONFIG", &refused)
        .assert()
        .code(75)
        .get_output()
        .clone();
    let v = json(&out.stdout);
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps[0]["name"], "kube context");
    assert_eq!(steps[0]["ok"], true);
    assert_eq!(steps[1]["name"], "may exec into pods");
    assert_eq!(steps[1]["rule"], "kubectl-api-refused", "{v}");
    assert!(steps[1]["fix"].as_str().unwrap().contains("API server"));
}

/// The emulated API server (tests/data/fake_apiserver.py) for the real
/// kubectl client: its kubeconfig, and the server killed on drop.
struct FakeApiServer {
    child: std::process::Child,
    kubeconfig: std::path::PathBuf,
}

impl FakeApiServer {
    fn start(sb: &Sandbox, phase: &str, kubelet_text: &str) -> FakeApiServer {
        use std::io::BufRead;
        let mut child = std::process::Command::new("python3")
            .arg(repo_root().join("tests/data/fake_apiserver.py"))
            .args([phase, kubelet_text])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 runs");
        let mut port = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        let kubeconfig = sb.write(
            &format!("kubeconfig-{}", uid("k")),
            &format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: u\ncurrent-context: fake\nusers:\n- name: u\n  user:\n    token: t\n",
                port.trim()
            ),
        );
        FakeApiServer { child, kubeconfig }
    }

    /// `stagerun run --engine kubectl` here, against this server: (exit code, item).
    fn run(&self, sb: &Sandbox, container: &str) -> (Option<i32>, std::path::PathBuf) {
        let item = sb.work_item(&uid("ORCH"));
        let out = stagerun(sb.path())
            .arg("run")
            .arg(&item)
            .args(["--repo", "r", "--transport", "local", "--engine", "kubectl"])
            .args(["--pod", "web-0", "--container", container, "--no-push"])
            .args(["--retries", "1"])
            .env("ORCH_STAGING_RUNNER_BACKOFF_BASE", "0.01")
            .env("KUBECONFIG", &self.kubeconfig)
            // A cold discovery cache of its own, as on a fresh runner.
            .env("HOME", sb.path().join(format!("home-{}", uid("h"))))
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap();
        (out.status.code(), item)
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The kubectl client's minor version (1.30 and later try WebSocket first).
fn kubectl_minor() -> Option<u32> {
    let out = std::process::Command::new("kubectl")
        .args(["version", "--client", "-o", "json"])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["clientVersion"]["minor"]
        .as_str()?
        .trim_end_matches('+')
        .parse()
        .ok()
}

/// The real kubectl client against an emulated API server: a container the
/// pod does not have and a pod that has completed are permanent (one
/// attempt, no retry), in kubectl's own words; the kubelet's "container not
/// found", which kubectl >= 1.30 gets through the API server's WebSocket
/// translator as `Internal error occurred: …` (once `unknown-exit`), is the
/// restarting container's rule.
#[test]
fn real_kubectl_refusals_against_an_emulated_api_server_are_classified() {
    if !require("kubectl client", kubectl()) {
        return;
    }
    let sb = Sandbox::new();
    let expect = |(code, item): (Option<i32>, std::path::PathBuf), outcome: &str, rule: &str, n| {
        let log = log_text(&item);
        assert_eq!(code, Some(75), "{log}");
        assert_eq!(front(&item, "outcome").as_deref(), Some(outcome), "{log}");
        assert_eq!(front(&item, "rule").as_deref(), Some(rule), "{log}");
        assert_eq!(attempts(&item), n, "{log}");
    };
    let running = FakeApiServer::start(&sb, "Running", "container not found (\"app\")");
    expect(
        running.run(&sb, "nosuch"),
        "permanent-env",
        "kubectl-container-not-valid",
        1,
    );
    expect(
        running.run(&sb, "app"),
        "transient-infra",
        "kubectl-container-restarting",
        2,
    );
    let completed = FakeApiServer::start(&sb, "Succeeded", "container not found (\"app\")");
    expect(
        completed.run(&sb, "app"),
        "permanent-env",
        "kubectl-pod-completed",
        1,
    );
    if kubectl_minor().is_some_and(|m| m < 30) {
        eprintln!(
            "note: this kubectl predates WebSocket exec; its \"container not found\" came over SPDY"
        );
    }
}
