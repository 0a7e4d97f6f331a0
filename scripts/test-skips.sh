#!/bin/sh
# make test, after cargo's summary: how many tests skipped and which tool
# each one missed, from the lines the test harness appended to FILE
# ($STAGERUN_SKIP_LOG; tests/integration/common/mod.rs, `require`), one a
# skip: `SKIPPED: WHAT unavailable (TEST): WHY`.
log=${1:?usage: test-skips.sh FILE}
if [ ! -s "$log" ]; then
  echo "make test: no test skipped"
  exit 0
fi
n=$(wc -l < "$log" | tr -d ' ')
tools=$(sed -n 's/^SKIPPED: \(.*\) unavailable (.*/\1/p' "$log" | sort | uniq -c | sort -rn \
  | sed 's/^ *\([0-9]*\) \(.*\)/\2: \1/' | paste -sd, - | sed 's/,/, /g')
tests="tests"
[ "$n" -eq 1 ] && tests="test"
echo "make test: $n $tests skipped, each for a missing tool ($tools); STAGERUN_REQUIRE_E2E=1 fails them instead:"
sort "$log" | sed 's/^/  /'
