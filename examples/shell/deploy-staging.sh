#!/usr/bin/env bash
# deploy-staging.sh WORK_ITEM_ID [REPO]: run stagerun for one work item and
# act on its exit code. Replace the four functions with your own stages.
#   HOLD_RETRIES  extra runs after a HOLD (75), default 0
#   HOLD_WAIT     seconds between them, default 300
# Exits 0 (SUCCESS, or SKIPPED after the fallback), 1 (FAILED, rolled back),
# 75 (HOLD: nothing rolled back) or stagerun's error code (2, 78, 70).
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: deploy-staging.sh WORK_ITEM_ID [REPO]" >&2
  exit 2 # not 1: a caller must never read a usage error as FAILED
fi
id="$1"
repo="${2:-orch-core}"
item="docs/work-items/$id"
hold_retries="${HOLD_RETRIES:-0}"
hold_wait="${HOLD_WAIT:-300}"

next_stage() { echo "SUCCESS: start the next stage for $1"; }
rollback() { echo "FAILED: roll $1 back to development"; }
notify_hold() { echo "HOLD: $1: $2 (nothing rolled back; run again later)" >&2; }
fallback() { echo "SKIPPED: run the legacy staging path for $1"; }

attempt=0
while :; do
  rc=0
  stagerun run "$item" --repo "$repo" --junit stagerun-junit.xml --json >stagerun-result.json || rc=$?
  if [ "$rc" -ne 75 ] || [ "$attempt" -ge "$hold_retries" ]; then
    break
  fi
  attempt=$((attempt + 1))
  echo "HOLD; running again in ${hold_wait}s ($attempt of $hold_retries)" >&2
  sleep "$hold_wait"
done

# One JSON object on stdout: verdict, exit_code, log_path, reason.
reason="$(jq -r '.reason // empty' stagerun-result.json 2>/dev/null || true)"
case "$rc" in
  0) next_stage "$item" ;;
  1) rollback "$item"; exit 1 ;;
  3) fallback "$item" ;;
  75) notify_hold "$item" "$reason"; exit 75 ;;
  *) echo "stagerun could not run (exit $rc): $reason" >&2; exit "$rc" ;;
esac
