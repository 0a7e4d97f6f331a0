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
