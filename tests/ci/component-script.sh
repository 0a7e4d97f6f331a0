#!/usr/bin/env bash
# Runs the `script:` of templates/stagerun.yml for real, the way a GitLab
# runner would (inputs interpolated, job variables exported, the script under
# `bash -eo pipefail` and under `dash -e` for images without bash), against
# the local stagerun with the fixture suite, and checks the job's exit code,
# the dotenv report and the artifacts' files. Also renders the component with
# retry_hold=true/false and checks the effective `retry`.
# Usage: tests/ci/component-script.sh   (STAGERUN=..., PROJECT=... as in
# tests/ci/action-steps.sh)
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
COMPONENT="${COMPONENT:-$root/templates/stagerun.yml}"
STAGERUN="${STAGERUN:-$root/target/debug/stagerun}"
PROJECT="${PROJECT:-$root}"
tmp="$(mktemp -d /tmp/run-component.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

# Render: defaults + given inputs, $[[ inputs.x ]] substituted, extends resolved.
cat >"$tmp/render.py" <<'PY'
import json, re, sys, yaml
src = sys.argv[1]
given = dict(a.split("=", 1) for a in sys.argv[2:])
header, body = open(src).read().split("\n---\n", 1)
spec = yaml.safe_load(header)["spec"]["inputs"]
vals = {}
for k, d in spec.items():
    if k in given:
        v = given[k]
        if d.get("type") == "boolean":
            v = {"true": True, "false": False}[v]
    elif "default" in d:
        v = d["default"]
    else:
        raise SystemExit(f"missing mandatory input {k}")
    vals[k] = v
for k in given:
    if k not in spec:
        raise SystemExit(f"unknown input {k}")
pat = re.compile(r"\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*\]\]")
def text(v):
    return ("true" if v else "false") if isinstance(v, bool) else str(v)
def sub(node):
    if isinstance(node, dict):
        return {sub(k): sub(v) for k, v in node.items()}
    if isinstance(node, list):
        return [sub(x) for x in node]
    if isinstance(node, str):
        m = pat.fullmatch(node.strip())
        if m:
            return vals[m.group(1)]
        return pat.sub(lambda m: text(vals[m.group(1)]), node)
    return node
doc = sub(yaml.safe_load(body))
jobs = {}
for name, job in doc.items():
    if name.startswith("."):
        continue
    ext = job.get("extends", [])
    ext = [ext] if isinstance(ext, str) else ext
    base = {}
    for e in ext:
        if e not in doc:
            raise SystemExit(f"extends {e}: no such hidden job")
        base.update(doc[e])
    merged = {**base, **{k: v for k, v in job.items() if k != "extends"}}
    merged["variables"] = {**base.get("variables", {}), **job.get("variables", {})}
    jobs[name] = merged
print(json.dumps(jobs))
PY

pass=0 fail=0
jqe() { jq -e "$@" >/dev/null; }
expect() {
  local what="$1"; shift
  if "$@"; then pass=$((pass + 1)); echo "  ok   $what"; else fail=$((fail + 1)); echo "  FAIL $what"; fi
}

common=(work_item=docs/work-items/ORCH-1 repo=orch-core image=registry.example.com/tools/stagerun:0.2.0)
python3 "$tmp/render.py" "$COMPONENT" "${common[@]}" retry_hold=true >"$tmp/true.json"
python3 "$tmp/render.py" "$COMPONENT" "${common[@]}" >"$tmp/false.json"
echo "== rendering"
expect "retry_hold=true: retry {max: 2, exit_codes: [75]}" jqe '.stagerun.retry == {max: 2, exit_codes: [75]}' "$tmp/true.json"
expect "retry_hold=false (default): no retry key" jqe '.stagerun | has("retry") | not' "$tmp/false.json"
expect "allow_failure exit_codes [3, 75]" jqe '.stagerun.allow_failure.exit_codes == [3, 75]' "$tmp/false.json"
expect "junit report and log path in artifacts" jqe '.stagerun.artifacts | .when == "always" and .reports.junit == "stagerun-junit.xml" and (.paths | index("docs/work-items/ORCH-1/15-staging-log.md"))' "$tmp/false.json"

# run_job SHELL JOBJSON [VAR=VALUE...] -> sets job_rc, job_dir
run_job() {
  local sh="$1" json="$2"; shift 2
  job_dir="$(mktemp -d "$tmp/job.XXXXXX")"
  mkdir -p "$job_dir/docs/work-items/ORCH-1"
  jq -r '.stagerun.script | join("\n")' "$json" >"$job_dir/.script.sh"
  local -a vars=()
  while IFS= read -r -d '' kv; do vars+=("$kv"); done < <(jq -j '.stagerun.variables | to_entries[] | "\(.key)=\(.value)\u0000"' "$json")
  local opts=(-e)
  [ "$sh" = bash ] && opts=(-eo pipefail)
  (cd "$job_dir" && env "${vars[@]}" PATH="$(dirname "$STAGERUN"):$PATH" \
    GITLAB_CI=true CI=true CI_COMMIT_REF_NAME=feature/ORCH-1 NO_COLOR=1 \
    ORCH_STAGING_RUNNER_TRANSPORT=local ORCH_STAGING_RUNNER_CHECK_SCRIPT="$PROJECT/fixtures/staging_check.py" \
    ORCH_STAGING_RUNNER_PUSH=false ORCH_STAGING_RUNNER_INFRA_RETRIES=0 "$@" \
    "$sh" "${opts[@]}" .script.sh) >"$tmp/last.out" 2>&1
  job_rc=$?
}
dotenv() { grep -x "$1" "$job_dir/stagerun.env" >/dev/null; }

for sh in bash dash; do
  echo "== $sh: pass"
  run_job "$sh" "$tmp/false.json" STAGING_CHECK_SCENARIO=pass
  expect "exit 0, STAGERUN_VERDICT=SUCCESS" test "$job_rc" = 0
  expect "dotenv verdict SUCCESS" dotenv STAGERUN_VERDICT=SUCCESS
  expect "dotenv log path" dotenv STAGERUN_LOG_PATH=docs/work-items/ORCH-1/15-staging-log.md
  expect "junit and log written" test -f "$job_dir/stagerun-junit.xml" -a -f "$job_dir/docs/work-items/ORCH-1/15-staging-log.md"
  echo "== $sh: fail"
  run_job "$sh" "$tmp/false.json" STAGING_CHECK_SCENARIO=fail
  expect "exit 1 (red), dotenv FAILED" test "$job_rc" = 1
  expect "dotenv verdict FAILED" dotenv STAGERUN_VERDICT=FAILED
  echo "== $sh: silent (HOLD)"
  run_job "$sh" "$tmp/false.json" STAGING_CHECK_SCENARIO=silent
  expect "exit 75 (allowed failure)" test "$job_rc" = 75
  expect "dotenv verdict HOLD" dotenv STAGERUN_VERDICT=HOLD
  echo "== $sh: disabled (SKIPPED)"
  run_job "$sh" "$tmp/false.json" STAGING_CHECK_SCENARIO=pass ORCH_STAGING_RUNNER_ENABLED=false
  expect "exit 3 (allowed failure)" test "$job_rc" = 3
  expect "dotenv verdict SKIPPED, empty log path" dotenv STAGERUN_VERDICT=SKIPPED
  expect "dotenv log path empty" dotenv STAGERUN_LOG_PATH=
  echo "== $sh: args with a usage error"
  python3 "$tmp/render.py" "$COMPONENT" "${common[@]}" 'args=--quiet --no-such-flag' >"$tmp/args.json"
  run_job "$sh" "$tmp/args.json" STAGING_CHECK_SCENARIO=pass
  expect "exit 2, dotenv ERROR" test "$job_rc" = 2
  expect "dotenv verdict ERROR" dotenv STAGERUN_VERDICT=ERROR
  echo "== $sh: a work_item with a newline or CR cannot add a dotenv line"
  python3 "$tmp/render.py" "$COMPONENT" "work_item=docs/work-items/ORCH-1
STAGERUN_VERDICT=SUCCESS" repo=orch-core image=registry.example.com/tools/stagerun:0.2.0 >"$tmp/nl.json"
  run_job "$sh" "$tmp/nl.json" STAGING_CHECK_SCENARIO=pass
  expect "refused (not 0)" test "$job_rc" != 0
  expect "one STAGERUN_VERDICT line, and it is not SUCCESS" test "$(grep -c '^STAGERUN_VERDICT=' "$job_dir/stagerun.env")" = 1 -a "$(grep -c '^STAGERUN_VERDICT=SUCCESS' "$job_dir/stagerun.env")" = 0
  expect "four lines, none with a control character" test "$(wc -l <"$job_dir/stagerun.env")" = 4 -a "$(tr -d '\n' <"$job_dir/stagerun.env" | tr -dc '\001-\037\177' | wc -c)" = 0
  python3 "$tmp/render.py" "$COMPONENT" "work_item=docs/work-items/ORCH-1$(printf '\r')STAGERUN_VERDICT=SUCCESS" repo=orch-core image=registry.example.com/tools/stagerun:0.2.0 >"$tmp/cr.json"
  run_job "$sh" "$tmp/cr.json" STAGING_CHECK_SCENARIO=pass
  expect "CR: four lines, none with a control character" test "$(wc -l <"$job_dir/stagerun.env")" = 4 -a "$(tr -d '\n' <"$job_dir/stagerun.env" | tr -dc '\001-\037\177' | wc -c)" = 0
  python3 "$tmp/render.py" "$COMPONENT" 'work_item=docs/work-items/ORCH-1\nSTAGERUN_VERDICT=SUCCESS' repo=orch-core image=registry.example.com/tools/stagerun:0.2.0 >"$tmp/bs.json"
  run_job "$sh" "$tmp/bs.json" STAGING_CHECK_SCENARIO=pass
  expect "a backslash-n stays two characters (dash's echo would make it a newline)" test "$(wc -l <"$job_dir/stagerun.env")" = 4 -a "$(grep -c '^STAGERUN_VERDICT=' "$job_dir/stagerun.env")" = 1
  echo "== $sh: args split on whitespace, no globbing"
  python3 "$tmp/render.py" "$COMPONENT" "${common[@]}" 'args=--quiet   --mode stub' >"$tmp/args2.json"
  run_job "$sh" "$tmp/args2.json" STAGING_CHECK_SCENARIO=pass
  expect "exit 0" test "$job_rc" = 0
done

echo
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
