#!/usr/bin/env bash
# wait-stagerun-job.sh JOB [NAMESPACE]: wait for a stagerun Job to finish and
# act on the exit code of its last pod: a Job is only Complete or Failed, and
# Failed may be FAILED (1), SKIPPED (3), HOLD (75, retries used up) or an error.
# Exits like stagerun: 0, 1, 3, 75, or the error code. Anything this script
# cannot read is 75 (HOLD), never 1: only a FAILED verdict may roll back.
set -uo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: wait-stagerun-job.sh JOB [NAMESPACE]" >&2
  exit 2
fi
job="$1"
ns="${2:-default}"
hold() { echo "HOLD: $1; nothing rolled back" >&2; exit 75; }

while :; do
  conds="$(kubectl -n "$ns" get job "$job" \
    -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{"\n"}{end}')" ||
    hold "cannot read job $job"
  case "$conds" in *Complete* | *Failed*) break ;; esac
  sleep 10
done

# The newest pod is the last attempt (Ignore'd disruptions and Count'ed HOLDs
# leave older pods behind).
pod="$(kubectl -n "$ns" get pods -l "batch.kubernetes.io/job-name=$job" \
  --sort-by=.metadata.creationTimestamp -o jsonpath='{.items[-1:].metadata.name}')" ||
  hold "cannot list the pods of $job"
[ -n "$pod" ] || hold "job $job has no pod left"
rc="$(kubectl -n "$ns" get pod "$pod" \
  -o jsonpath='{.status.containerStatuses[?(@.name=="stagerun")].state.terminated.exitCode}')" ||
  hold "cannot read pod $pod"
kubectl -n "$ns" logs "$pod" -c stagerun >stagerun-result.json || true # the --json result

case "$rc" in
  0) echo "SUCCESS: start the next stage" ;;
  1) echo "FAILED: roll back"; exit 1 ;;
  3) echo "SKIPPED: take the fallback path"; exit 3 ;;
  75) hold "stagerun HOLD (retries used up); run the Job again later" ;;
  "") hold "pod $pod has no exit code (never ran, or was deleted)" ;;
  *) echo "stagerun could not run (exit $rc): nothing judged" >&2; exit "$rc" ;;
esac
