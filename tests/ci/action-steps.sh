#!/usr/bin/env bash
# Runs the `run:` steps of a composite action.yml for real, the way the GitHub
# runner does, without GitHub: each step with `shell: bash` gets its `env:`
# (with ${{ inputs.* }} / ${{ steps.*.outputs.* }} evaluated), a fresh
# GITHUB_OUTPUT file and shared GITHUB_STEP_SUMMARY / GITHUB_PATH files,
# GITHUB_ACTION_PATH, and runs as `bash --noprofile --norc -eo pipefail FILE`.
# Step `if:` conditions are evaluated (always(), success(), failure(),
# cancelled(), ==, !=, &&, ||, !, literals, references). `uses:` steps are not
# run: their evaluated `with:` is recorded, and for upload-artifact the paths
# are checked to exist. Then the action's outputs are computed from its
# `outputs.*.value` and compared with what each scenario expects.
#
# This is the harness an automated Rust integration test would drive (see
# tests-notes.md): same parsing, same environment, same checks.
#
# Usage: tests/ci/action-steps.sh [--build | --release DIST_DIR]
#   STAGERUN=/path/to/stagerun (default /work/main/target/debug/stagerun)
#   ACTION=/path/to/action.yml (default: action.yml beside this script)
#   --build also runs install=auto with stagerun off PATH, which builds a copy
#   of the project (slow); BUILD_TARGET_DIR=DIR keeps cargo's output in DIR,
#   BUILD_TARGET_DIR=default lets it go to $GITHUB_ACTION_PATH/target.
#   --release DIST_DIR runs only the install scenarios of tests/ci/action-release.sh:
#   the release that `make dist` wrote to DIST_DIR, served over HTTP on loopback
#   (good, tampered, missing, cached); one of them builds stagerun (release profile).
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
ACTION="${ACTION:-$root/action.yml}"
STAGERUN="${STAGERUN:-$root/target/debug/stagerun}"
PROJECT="${PROJECT:-$root}"
CHECK_SCRIPT="${CHECK_SCRIPT:-$PROJECT/fixtures/staging_check.py}"
run_build=0 release_dir=""
case "${1:-}" in
  --build) run_build=1 ;;
  --release) release_dir="${2:?--release needs the folder make dist wrote}" ;;
esac

for t in python3 jq bash; do
  command -v "$t" >/dev/null || { echo "missing tool: $t" >&2; exit 2; }
done
python3 -c 'import yaml' 2>/dev/null || { echo "missing python module: yaml" >&2; exit 2; }
[ -x "$STAGERUN" ] || { echo "no stagerun binary at $STAGERUN" >&2; exit 2; }

tmp_root="$(mktemp -d /tmp/run-action-steps.XXXXXX)"
trap 'rm -rf "$tmp_root"' EXIT
helper="$tmp_root/helper.py"

cat >"$helper" <<'PY'
"""YAML + expression helper for the action harness."""
import json, re, sys
import yaml

def load(path):
    with open(path) as f:
        return yaml.safe_load(f)

# --- a small GitHub expression evaluator ------------------------------------
TOKEN = re.compile(r"\s*(?:(\|\||&&|==|!=|!|\(|\)|,)|('(?:[^']|'')*')|([A-Za-z_][A-Za-z0-9_.\-]*(?:\[[^\]]*\])*)|(-?\d+(?:\.\d+)?))")

def tokenize(s):
    out, i = [], 0
    s = s.strip()
    while i < len(s):
        m = TOKEN.match(s, i)
        if not m or m.end() == i:
            raise SystemExit(f"cannot parse expression at: {s[i:]!r}")
        op, lit, ident, num = m.groups()
        if op: out.append(("op", op))
        elif lit is not None: out.append(("str", lit[1:-1].replace("''", "'")))
        elif num is not None: out.append(("num", float(num)))
        else: out.append(("id", ident))
        i = m.end()
        while i < len(s) and s[i].isspace():
            i += 1
    return out

class Eval:
    def __init__(self, ctx):
        self.ctx = ctx
    def run(self, expr):
        self.toks, self.i = tokenize(expr), 0
        v = self.or_()
        if self.i != len(self.toks):
            raise SystemExit(f"trailing tokens in {expr!r}")
        return v
    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)
    def take(self):
        t = self.toks[self.i]; self.i += 1; return t
    def or_(self):
        v = self.and_()
        while self.peek() == ("op", "||"):
            self.take(); r = self.and_(); v = v if truthy(v) else r
        return v
    def and_(self):
        v = self.cmp()
        while self.peek() == ("op", "&&"):
            self.take(); r = self.cmp(); v = r if truthy(v) else v
        return v
    def cmp(self):
        v = self.unary()
        while self.peek() in (("op", "=="), ("op", "!=")):
            op = self.take()[1]; r = self.unary()
            eq = loose_eq(v, r)
            v = eq if op == "==" else not eq
        return v
    def unary(self):
        if self.peek() == ("op", "!"):
            self.take(); return not truthy(self.unary())
        return self.atom()
    def atom(self):
        kind, val = self.take()
        if kind == "op" and val == "(":
            v = self.or_(); self.take(); return v
        if kind in ("str", "num"):
            return val
        if kind == "id":
            if self.peek() == ("op", "("):
                self.take()
                if self.peek() != ("op", ")"):
                    raise SystemExit(f"function arguments not supported: {val}")
                self.take()
                status = self.ctx.get("status", "success")
                return {"always": True, "success": status == "success",
                        "failure": status == "failure", "cancelled": False}[val]
            if val in ("true", "false"): return val == "true"
            if val == "null": return None
            return lookup(self.ctx, val)
        raise SystemExit(f"unexpected token {val!r}")

def lookup(ctx, path):
    cur = ctx
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return ""   # GitHub: a missing property is null, which renders as ''
    return cur

def truthy(v):
    return v not in (None, False, "", 0, 0.0)

def loose_eq(a, b):
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()     # GitHub compares strings ignoring case
    return a == b

def render(s, ctx):
    """Substitute ${{ expr }} in a string."""
    if not isinstance(s, str):
        return "" if s is None else str(s).lower() if isinstance(s, bool) else str(s)
    def sub(m):
        v = Eval(ctx).run(m.group(1))
        if isinstance(v, bool): return "true" if v else "false"
        if v is None: return ""
        if isinstance(v, float) and v.is_integer(): return str(int(v))
        return str(v)
    return re.sub(r"\$\{\{(.*?)\}\}", sub, s, flags=re.S)

def cond(expr, ctx):
    if expr is None:
        expr = "success()"
    expr = str(expr).strip()
    if expr.startswith("${{") and expr.endswith("}}"):
        expr = expr[3:-2]
    if not re.search(r"\b(always|success|failure|cancelled)\(\)", expr):
        expr = f"success() && ({expr})"
    return truthy(Eval(ctx).run(expr))

def parse_output_file(path):
    """GITHUB_OUTPUT syntax: NAME=VALUE, or NAME<<DELIM ... DELIM (last wins)."""
    out = {}
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except FileNotFoundError:
        return out
    i = 0
    while i < len(lines):
        line = lines[i]; i += 1
        if not line.strip():
            continue
        eq, hd = line.find("="), line.find("<<")
        if hd != -1 and (eq == -1 or hd < eq):
            name, delim = line[:hd], line[hd + 2:]
            val = []
            while i < len(lines) and lines[i] != delim:
                val.append(lines[i]); i += 1
            if i >= len(lines):
                raise SystemExit(f"Matching delimiter not found '{delim}'")
            i += 1
            out[name] = "\n".join(val)
        elif eq > 0:
            out[line[:eq]] = line[eq + 1:]
        else:
            raise SystemExit(f"invalid GITHUB_OUTPUT line: {line!r}")
    return out

def main():
    cmd = sys.argv[1]
    if cmd == "count":
        print(len(load(sys.argv[2])["runs"]["steps"]))
    elif cmd == "inputs":
        # defaults overlaid with given inputs (JSON object on argv[3])
        action, given = load(sys.argv[2]), json.loads(sys.argv[3])
        res = {}
        for k, spec in (action.get("inputs") or {}).items():
            d = spec.get("default", "")
            res[k] = render(d, {}) if d is not None else ""
            if spec.get("required") and k not in given:
                raise SystemExit(f"required input missing: {k}")
        for k, v in given.items():
            if k not in res:
                raise SystemExit(f"unexpected input: {k}")
            res[k] = v
        print(json.dumps(res))
    elif cmd == "step":
        # prints a JSON description of step N evaluated against ctx
        action, n, ctx = load(sys.argv[2]), int(sys.argv[3]), json.load(open(sys.argv[4]))
        st = action["runs"]["steps"][n]
        d = {"id": st.get("id", f"__step{n}"), "name": st.get("name", ""),
             "run_if": cond(st.get("if"), ctx)}
        if d["run_if"]:
            d["env"] = {k: render(v, ctx) for k, v in (st.get("env") or {}).items()}
            if "run" in st:
                d["kind"] = "run"; d["shell"] = st.get("shell"); d["script"] = st["run"]
            else:
                d["kind"] = "uses"; d["uses"] = st["uses"]
                d["with"] = {k: render(v, ctx) for k, v in (st.get("with") or {}).items()}
        print(json.dumps(d))
    elif cmd == "parse-output":
        print(json.dumps(parse_output_file(sys.argv[2])))
    elif cmd == "outputs":
        action, ctx = load(sys.argv[2]), json.load(open(sys.argv[3]))
        print(json.dumps({k: render(v.get("value", ""), ctx)
                          for k, v in (action.get("outputs") or {}).items()}))
    else:
        raise SystemExit(f"unknown command {cmd}")

main()
PY

h() { python3 "$helper" "$@"; }

# run_action DIR INPUTS_JSON : runs the action in DIR (the workspace); leaves
# DIR/.result.json = {outputs, steps, status, step_rc}, logs in DIR/.logs/
run_action() {
  local ws="$1" inputs_json="$2"
  local state="$ws/.harness"; mkdir -p "$state"
  local ctx="$state/ctx.json" n i desc kind id shell rc status=success
  local summary="$state/step_summary.md" pathfile="$state/github_path"
  : >"$summary"; : >"$pathfile"
  h inputs "$ACTION" "$inputs_json" >"$state/inputs.json" || return 2
  jq -n --slurpfile in "$state/inputs.json" --arg repo "${SCEN_ACTION_REPOSITORY:-}" \
    '{inputs: $in[0], steps: {}, status: "success", github: {action_repository: $repo}}' >"$ctx"
  n="$(h count "$ACTION")"
  for ((i = 0; i < n; i++)); do
    desc="$(h step "$ACTION" "$i" "$ctx")" || return 2
    id="$(jq -r .id <<<"$desc")"
    if [ "$(jq -r .run_if <<<"$desc")" != true ]; then
      echo "  step $i ($id): skipped by its if:"
      jq --arg id "$id" '.steps[$id] = {outputs: {}, outcome: "skipped", conclusion: "skipped"}' "$ctx" >"$ctx.new" && mv "$ctx.new" "$ctx"
      continue
    fi
    kind="$(jq -r .kind <<<"$desc")"
    if [ "$kind" = uses ]; then
      local uses; uses="$(jq -r .uses <<<"$desc")"
      jq --arg id "$id" --argjson d "$desc" '.steps[$id] = {outputs: {}, outcome: "success", conclusion: "success"} | .uses[$id] = $d' "$ctx" >"$ctx.new" && mv "$ctx.new" "$ctx"
      echo "  step $i ($id): uses $uses (not run) with $(jq -c .with <<<"$desc")"
      continue
    fi
    shell="$(jq -r .shell <<<"$desc")"
    if [ "$shell" != bash ]; then
      echo "  step $i ($id): shell is '$shell', not bash" >&2
      return 2
    fi
    jq -r .script <<<"$desc" >"$state/step$i.sh"
    local out="$state/step$i.output"; : >"$out"
    # Environment: the inherited one (PATH and the scenario's variables), then
    # the runner's, then the step's env: block (which wins, as on GitHub).
    local -a envargs=()
    while IFS= read -r -d '' kv; do envargs+=("$kv"); done < <(jq -j '.env | to_entries[] | "\(.key)=\(.value)\u0000"' <<<"$desc")
    (
      cd "$ws" || exit 99
      # GITHUB_PATH entries are prepended for later steps, the latest first.
      step_path="$(tac "$pathfile" | tr '\n' ':')${SCEN_PATH:-$PATH}"
      env GITHUB_OUTPUT="$out" GITHUB_STEP_SUMMARY="$summary" GITHUB_PATH="$pathfile" \
        GITHUB_ACTION_PATH="${GITHUB_ACTION_PATH_OVERRIDE:-$(dirname "$ACTION")}" \
        GITHUB_WORKSPACE="$ws" RUNNER_TEMP="$state" \
        ${SCEN_ENV[@]+"${SCEN_ENV[@]}"} PATH="$step_path" \
        ${envargs[@]+"${envargs[@]}"} \
        /usr/bin/env bash --noprofile --norc -eo pipefail "$state/step$i.sh"
    ) >"$state/step$i.stdout" 2>"$state/step$i.stderr"
    rc=$?
    local outcome=success
    if [ "$rc" -ne 0 ]; then outcome=failure; status=failure; fi
    local outs; outs="$(h parse-output "$out")" || return 2
    jq --arg id "$id" --arg oc "$outcome" --argjson o "$outs" --arg st "$status" --argjson rc "$rc" \
      '.steps[$id] = {outputs: $o, outcome: $oc, conclusion: $oc, rc: $rc} | .status = $st' "$ctx" >"$ctx.new" && mv "$ctx.new" "$ctx"
    echo "  step $i ($id): bash exit $rc, outputs $(jq -c . <<<"$outs")"
  done
  jq --argjson outs "$(h outputs "$ACTION" "$ctx")" '. + {action_outputs: $outs}' "$ctx" >"$ws/.result.json"
}

pass=0 fail=0
expect() { # expect DESCRIPTION COMMAND... : passes when the command succeeds
  local what="$1"; shift
  if "$@"; then pass=$((pass + 1)); echo "  ok   $what"; else fail=$((fail + 1)); echo "  FAIL $what"; fi
}
check() { # check DESCRIPTION JQ_FILTER RESULT_FILE
  if jq -e "$2" "$3" >/dev/null; then
    pass=$((pass + 1)); echo "  ok   $1"
  else
    fail=$((fail + 1)); echo "  FAIL $1   ($2)"; jq -c '{action_outputs, status, steps: (.steps | map_values({outcome, rc, outputs}))}' "$3" | sed 's/^/       /'
  fi
}

# A workspace with a git-less work item folder ORCH-1 and stagerun on PATH.
new_ws() {
  local ws; ws="$(mktemp -d "$tmp_root/ws.XXXXXX")"
  mkdir -p "$ws/docs/work-items/ORCH-1"
  echo "$ws"
}

bindir="$(dirname "$STAGERUN")"
export PATH="$bindir:$PATH"
# The local suite, configured through the environment as in a workflow's env:.
export ORCH_STAGING_RUNNER_TRANSPORT=local
export ORCH_STAGING_RUNNER_CHECK_SCRIPT="$CHECK_SCRIPT"
export ORCH_STAGING_RUNNER_PUSH=false
export ORCH_STAGING_RUNNER_INFRA_RETRIES=0
export NO_COLOR=1
export GITHUB_ACTIONS=true

scenario() { # scenario NAME INPUTS_JSON [VAR=VALUE ...] ; sets $res
  local name="$1" inputs="$2"; shift 2
  echo "== $name"
  local ws; ws="$(new_ws)"
  SCEN_ENV=() SCEN_PATH="" SCEN_ACTION_REPOSITORY=""
  local kv
  for kv in "$@"; do
    case "$kv" in
      PATH=*) SCEN_PATH="${kv#PATH=}" ;;
      ACTION_REPOSITORY=*) SCEN_ACTION_REPOSITORY="${kv#ACTION_REPOSITORY=}" ;; # github.action_repository
      *) SCEN_ENV+=("$kv") ;;
    esac
  done
  run_action "$ws" "$inputs"
  res="$ws/.result.json"
  if [ ! -f "$res" ]; then echo "  FAIL harness error"; fail=$((fail + 1)); res=/dev/null; fi
  last_ws="$ws"
}
base='{"work-item": "docs/work-items/ORCH-1", "repo": "orch-core"}'
with() { jq -c ". + $1" <<<"$base"; }

if [ -n "$release_dir" ]; then
  # shellcheck source=tests/ci/action-release.sh
  . "$here/action-release.sh"
  echo
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit
fi

scenario "pass: SUCCESS" "$base" STAGING_CHECK_SCENARIO=pass
check "verdict SUCCESS, exit-code 0" '.action_outputs.verdict == "SUCCESS" and .action_outputs["exit-code"] == "0"' "$res"
check "log-path is the work item log and exists" '.action_outputs["log-path"] | endswith("docs/work-items/ORCH-1/15-staging-log.md")' "$res"
check "run step passed" '.steps.run.outcome == "success"' "$res"
check "stagerun itself wrote the outputs (no fallback lines)" '.steps.run.outputs | has("verdict")' "$res"
check "upload step selected with log + junit" '.uses | to_entries[0].value.with.path | contains("15-staging-log.md") and contains("stagerun-junit.xml")' "$res"
check "artifact name stagerun-ORCH-1" '.uses | to_entries[0].value.with.name == "stagerun-ORCH-1"' "$res"
expect "junit and log files exist" test -f "$last_ws/stagerun-junit.xml" -a -f "$last_ws/docs/work-items/ORCH-1/15-staging-log.md"
expect "step summary written by stagerun" grep -q "deploy-staging ORCH-1: SUCCESS" "$last_ws/.harness/step_summary.md"
expect "exactly one verdict= line in GITHUB_OUTPUT" test "$(grep -c '^verdict=' "$last_ws/.harness/step1.output")" = 1

scenario "fail: FAILED fails the step (fail-on: failed)" "$base" STAGING_CHECK_SCENARIO=fail
check "verdict FAILED, exit-code 1" '.action_outputs.verdict == "FAILED" and .action_outputs["exit-code"] == "1"' "$res"
check "run step failed with 1" '.steps.run.outcome == "failure" and .steps.run.rc == 1' "$res"
check "upload still runs after the failure (always())" '.uses | length == 1' "$res"
expect "::error annotation printed" grep -q '^::error title=deploy-staging ORCH-1::' "$last_ws/.harness/step1.stdout"

scenario "silent: HOLD passes the step" "$base" STAGING_CHECK_SCENARIO=silent
check "verdict HOLD, exit-code 75" '.action_outputs.verdict == "HOLD" and .action_outputs["exit-code"] == "75"' "$res"
check "run step passed" '.steps.run.outcome == "success" and .steps.run.rc == 0' "$res"

scenario "disabled: SKIPPED passes the step, no log" "$base" STAGING_CHECK_SCENARIO=pass ORCH_STAGING_RUNNER_ENABLED=false
check "verdict SKIPPED, exit-code 3, log-path empty" '.action_outputs.verdict == "SKIPPED" and .action_outputs["exit-code"] == "3" and .action_outputs["log-path"] == ""' "$res"
check "run step passed" '.steps.run.outcome == "success"' "$res"

scenario "out of scope: SKIPPED" "$base" STAGING_CHECK_SCENARIO=pass ORCH_STAGING_RUNNER_REPOS=orch-web
check "verdict SKIPPED" '.action_outputs.verdict == "SKIPPED"' "$res"

scenario "fail-on: any makes HOLD fail the step with 75" "$(with '{"fail-on": "any"}')" STAGING_CHECK_SCENARIO=silent
check "verdict HOLD, step failed with 75" '.action_outputs.verdict == "HOLD" and .steps.run.rc == 75' "$res"

scenario "fail-on: none keeps FAILED green" "$(with '{"fail-on": "none"}')" STAGING_CHECK_SCENARIO=fail
check "verdict FAILED, step passed" '.action_outputs.verdict == "FAILED" and .steps.run.outcome == "success"' "$res"

scenario "bad fail-on value" "$(with '{"fail-on": "sometimes"}')" STAGING_CHECK_SCENARIO=pass
check "step fails with 2 before running stagerun" '.steps.run.rc == 2 and .action_outputs.verdict == ""' "$res"

scenario "usage error in args: ERROR from the fallback" "$(with '{"args": "--no-such-flag"}')" STAGING_CHECK_SCENARIO=pass
check "verdict ERROR, exit-code 2 (written by the action)" '.action_outputs.verdict == "ERROR" and .action_outputs["exit-code"] == "2"' "$res"
check "step failed with 2" '.steps.run.rc == 2' "$res"

scenario "config error: ERROR 78" "$base" STAGING_CHECK_SCENARIO=pass ORCH_STAGING_RUNNER_TIMEOUT=soon
check "verdict ERROR, exit-code 78, step failed" '.action_outputs.verdict == "ERROR" and .action_outputs["exit-code"] == "78" and .steps.run.rc == 78' "$res"

scenario "extra args split on whitespace" "$(with '{"args": "--quiet  --retries 0\n--mode stub"}')" STAGING_CHECK_SCENARIO=pass
check "verdict SUCCESS" '.action_outputs.verdict == "SUCCESS"' "$res"

scenario "junit empty: no --junit" "$(with '{"junit": ""}')" STAGING_CHECK_SCENARIO=pass
check "verdict SUCCESS" '.action_outputs.verdict == "SUCCESS"' "$res"
expect "no junit file" test ! -e "$last_ws/stagerun-junit.xml"

scenario "outside GitHub's stagerun outputs (GITHUB_ACTIONS unset): fallback outputs" "$base" STAGING_CHECK_SCENARIO=fail GITHUB_ACTIONS=false
check "verdict FAILED, exit-code 1, log-path relative" '.action_outputs.verdict == "FAILED" and .action_outputs["exit-code"] == "1" and .action_outputs["log-path"] == "docs/work-items/ORCH-1/15-staging-log.md"' "$res"

# shellcheck disable=SC2016  # the $( ) and backticks are the test data
scenario "hostile inputs stay data" "$(with '{"work-item": "docs/work-items/$(touch PWNED)`touch PWNED2`", "repo": "x\"; touch PWNED3; \"", "args": "--mode $(touch PWNED4)"}')" STAGING_CHECK_SCENARIO=pass
check "stagerun refused the work item (usage error, verdict ERROR)" '.action_outputs.verdict == "ERROR"' "$res"
expect "nothing executed (no PWNED* file anywhere)" test -z "$(find "$last_ws" "$PWD" -maxdepth 1 -name 'PWNED*' -print -quit)"

scenario "work item that looks like a flag" "$(with '{"work-item": "--help"}')" STAGING_CHECK_SCENARIO=pass
check "taken as a path (usage error 2), not as --help (0)" '.action_outputs["exit-code"] == "2"' "$res"

scenario "install: path without stagerun on PATH" "$(with '{"install": "path"}')" PATH=/usr/bin:/bin
check "install step fails, run and upload skipped, outputs empty" '.steps.install.outcome == "failure" and .steps.run.outcome == "skipped" and (.uses // {} | length) == 0 and .action_outputs.verdict == ""' "$res"

scenario "install: bogus" "$(with '{"install": "download"}')"
check "install step fails with 2" '.steps.install.rc == 2' "$res"

if [ "$run_build" = 1 ]; then
  # install=build against a copy of the project (GITHUB_ACTION_PATH), with
  # stagerun kept off PATH so auto has to build.
  src="$tmp_root/action-src"; mkdir -p "$src"
  (cd "$PROJECT" && tar --exclude=./target -cf - .) | (cd "$src" && tar -xf -)
  cp "$ACTION" "$src/action.yml"
  # BUILD_TARGET_DIR=default: no CARGO_TARGET_DIR, so cargo builds into
  # $GITHUB_ACTION_PATH/target, the action's default path.
  if [ "${BUILD_TARGET_DIR:-}" = default ]; then
    unset CARGO_TARGET_DIR
  else
    export CARGO_TARGET_DIR="${BUILD_TARGET_DIR:-$tmp_root/target}"
  fi
  nopath="$(echo "$PATH" | tr ':' '\n' | grep -vx "$bindir" | paste -sd:)"
  GITHUB_ACTION_PATH_OVERRIDE="$src" scenario "install: auto builds when stagerun is not on PATH" "$base" STAGING_CHECK_SCENARIO=pass PATH="$nopath"
  check "built binary used: verdict SUCCESS" '.action_outputs.verdict == "SUCCESS" and (.steps.install.outputs.bin | endswith("/release/stagerun"))' "$res"
  expect "GITHUB_PATH has the release folder" grep -q '/release$' "$last_ws/.harness/github_path"
fi

echo
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
