#!/bin/sh
# make demo: stagerun on a copy of the bundled work item with the local
# transport and the reference suite (no ssh, no docker), its log, the gate,
# and last what a newcomer reads: the verdict, the gate's answer, where the
# log is, and the next two things to try (docs/getting-started.md).
#
#   demo.sh BIN DIR   BIN: the stagerun to run; DIR: where the copy goes
#                     (emptied first). Run from the repository's root.
set -u
bin=${1:?usage: demo.sh BIN DIR}
dir=${2:?usage: demo.sh BIN DIR}
config=fixtures/demo.stagerun.yaml
item=$dir/ORCH-115
log=$item/15-staging-log.md
rm -rf "$dir" && mkdir -p "$dir" && cp -r fixtures/work-items/ORCH-115 "$dir/" || exit 70

# The contract's words for the exit codes (docs/contract.md).
word() {
  case $1 in
    0) echo SUCCESS ;; 1) echo FAILED ;; 2) echo "usage error" ;; 3) echo SKIPPED ;;
    75) echo HOLD ;; 78) echo "configuration error" ;; *) echo "internal error" ;;
  esac
}
front() { sed -n "s/^$1: //p" "$log" 2>/dev/null | head -1; }

echo "== stagerun run $item --repo orch-core --config $config (local transport, reference suite)"
"$bin" run "$item" --repo orch-core --config "$config"
code=$?
echo "== $log"
cat "$log"
echo "== stagerun gate $item"
"$bin" gate "$item"
gate=$?

echo
echo "== make demo: done"
echo "verdict:  $(word "$code") (exit $code): $(front summary)"
echo "gate:     $(word "$gate") (stagerun gate exits $gate: what the pipeline branches on)"
echo "log:      $log"
echo "next, as in docs/getting-started.md:"
echo "  a failing suite (FAILED, exit 1):"
echo "    STAGING_CHECK_SCENARIO=fail $bin run $item --repo orch-core --config $config; echo \$?"
echo "  a hanging suite, stopped by its timeout (HOLD, exit 75):"
echo "    STAGING_CHECK_SCENARIO=hang $bin run $item --repo orch-core --config $config --timeout 3 --retries 0; echo \$?"
test "$code" -eq 0
