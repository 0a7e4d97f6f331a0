# stagerun provenance wrapper: POSIX sh (dash, bash, busybox ash), nothing
# installed. Runs where the suite runs, as
#   sh -c WRAPPER stagerun NONCE STATE LOCK DEADLINE GRACE REPORT ARGV...
# (REPORT: a suite report to remove before the suite starts, or empty)
# Protocol (docs/transports.md): markers on both streams so each stream splits
# into channel-before / suite / channel-after:
#   @@stagerun:NONCE:start:MODE@@          it runs here and holds the lock
#   @@stagerun:NONCE:busy:OTHER@@          another run holds the work item (exit 75)
#   @@stagerun:NONCE:state-error:WHY@@     the lock folder cannot be made (exit 70)
#   @@stagerun:NONCE:end:STATUS:HOW:LEFT@@ the suite's exact exit status
n=$1 s=$2 l=$3 d=$4 g=$5 r=$6
shift 6
L=$s/$l.lock
m() {
  printf '@@stagerun:%s:%s@@\n' "$n" "$1"
  printf '@@stagerun:%s:%s@@\n' "$n" "$1" >&2
}
# @procs: src/transport/procs.sh goes here
# true while the suite's group, or a process with its tag, lives (u_ lists them)
lv() {
  if [ "$pg" != "$$" ]; then mem "$pg" 0; else mem "$$" "$$"; fi
  esc && u_="$u_$e_"
  [ -n "$u_" ]
}
# signal the suite: its own group, or (no setsid) our group but us
sig() {
  if [ "$pg" != "$$" ]; then
    kill -"$1" -"$pg" 2>/dev/null
  elif mem "$$" "$$"; then
    kill -"$1" $u_ 2>/dev/null
  fi
}
# take the work item's lock; stale when neither its wrapper nor its suite
# group lives; a takeover renames the old lock first, so of two runners
# only one can take it
lock() {
  # (the state folder usually exists: one mkdir, not two)
  mkdir "$L" 2>/dev/null && return 0
  mkdir -p "$s" 2>/dev/null
  mkdir "$L" 2>/dev/null && return 0
  if [ ! -d "$L" ]; then
    m "state-error:cannot create $L"
    exit 70
  fi
  o=
  { read -r o < "$L/owner"; } 2>/dev/null
  set -- $o
  [ -n "$o" ] || busy unknown
  [ -n "$2" ] && st "$2" && [ "$t_" = "$3" ] && busy "$1"
  [ -n "$4" ] && mem "$4" 0 && busy "$1"
  mv "$L" "$L.$n" 2>/dev/null || busy "$1"
  c=
  { read -r c < "$L.$n/owner"; } 2>/dev/null
  if [ "$c" != "$o" ]; then
    mv "$L.$n" "$L" 2>/dev/null
    busy "${c%% *}"
  fi
  rm -rf "$L.$n"
  mkdir "$L" 2>/dev/null || busy unknown
}
busy() {
  m "busy:${1:-unknown}"
  exit 75
}
st $$
ws=$t_
me="$n $$ $t_"
lock
echo "$me" > "$L/owner"
# a report left by an earlier run must not pass for this one's
[ -n "$r" ] && rm -f "$r"
export PYTHONUNBUFFERED=1
trap 'e=t' ALRM
trap 'e=s' TERM HUP INT
if command -v setsid > /dev/null 2>&1; then
  m start:session
  STAGERUN_RUN=$n setsid "$@" &
  p=$!
  pg=$p
else
  m start:group
  STAGERUN_RUN=$n "$@" &
  p=$!
  pg=$$
fi
echo "$me $pg" > "$L/owner"
# the deadline: a timer that signals us; we do the stopping
(
  trap 'kill $w 2>/dev/null; exit' TERM
  sleep "$d" &
  w=$!
  wait $w && kill -ALRM $$
) > /dev/null 2>&1 &
wd=$!
how=ok
ph=0
gt=
while :; do
  e=
  wait $p
  rc=$?
  [ -z "$e" ] && break
  if [ $ph = 0 ]; then
    [ "$e" = t ] && how=deadline || how=stopped
    ph=1
    sig TERM
    # the grace: a sleep of ours and a watcher that signals us when it
    # ends; both are killed outright once the suite is gone (no signal
    # race), never hold our output, never signal a pid that is not us
    (
      trap '' TERM
      exec sleep "$g"
    ) > /dev/null 2>&1 &
    gs=$!
    (
      trap '' TERM
      while st $gs; do z; done
      st $$ && [ "$t_" = "$ws" ] && kill -ALRM $$
    ) > /dev/null 2>&1 &
    gt=$!
  elif [ "$e" = t ]; then
    sig KILL
  fi
done
trap '' TERM
# (no `wait` for the deadline timer: once it has fired, bash's wait for it
# blocks until some other child ends; its output is /dev/null anyway)
kill $wd 2>/dev/null
[ -n "$gt" ] && kill -9 $gt $gs 2>/dev/null
# what the suite left behind in its group gets TERM, the grace, then KILL
left=
if lv; then
  sig TERM
  esc && kill -TERM $e_ 2>/dev/null
  i=0
  while [ $i -lt $((${g%.*} * 10 + 1)) ] && lv; do
    z
    i=$((i + 1))
  done
  sig KILL
  esc && kill -KILL $e_ 2>/dev/null
  z
  lv && left=${u_# }
fi
o=
{ read -r o < "$L/owner"; } 2>/dev/null
[ "${o%% *}" = "$n" ] && rm -rf "$L"
m "end:$rc:$how:${left:-none}"
exit $rc
