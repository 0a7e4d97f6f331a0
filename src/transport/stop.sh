# stagerun's remote stop: stops a run, or a preflight, where it runs, and
# says what it found:
#   sh -c STOP stagerun-stop run NONCE STATE ITEM GRACE
#   sh -c STOP stagerun-stop steps NONCE PID GROUP START
# It prints @@stagerun:NONCE:stopped:RESULT[:PIDS]@@ with RESULT one of
# not-running (nothing of this run holds the lock), confirmed (stopped, and
# a search that could have found a leftover found none), survivors (alive
# after TERM and KILL), unverified (stopped, but the search for what left
# the suite's group cannot run here).
mode=$1 nonce=$2
shift 2

# answer RESULT: the one line stagerun reads
answer() {
  echo "@@stagerun:$nonce:stopped:$1@@"
}

# @procs: src/transport/procs.sh goes here

# living: true while anything of the run lives: its supervisor, the suite's
# group, a follower, or a process with the run's tag; $living lists them
living() {
  living=
  alive "$supervisor" "$supervisor_start" && living=" $supervisor"
  [ "$group" != - ] && members "$group" 0 && living="$living$members"
  alive "$follower" "$follower_start" && living="$living $follower"
  tagged "$lock/tag" && living="$living$tagged"
  [ -n "$living" ]
}

# kin: sets $kin to the run's supervisor and follower with their children
# (timers, sleeps, the keepalive reader), read while their parents live
kin() {
  kin=
  for parent in $supervisor $follower; do
    fields "$parent" || continue
    children "$parent" && kin="$kin$children"
    for child in $children; do
      children "$child" && kin="$kin$children"
    done
  done
}

# stop_run GRACE: TERM asks the supervisor to stop the suite its own way
# (TERM to the group, the grace, KILL, the sweep); what still lives after
# the grace is KILLed, and then nothing may be left
stop_run() {
  lock=$1/$2.lock grace=$3
  owner=
  watcher=
  { read -r owner < "$lock/owner"; } 2> /dev/null
  { read -r watcher < "$lock/supervisor"; } 2> /dev/null
  # shellcheck disable=SC2086 # the line is words
  set -- $owner
  if [ "$1" != "$nonce" ]; then
    answer not-running
    exit 0
  fi
  # the wrapper that took the lock, or the supervisor once it said so
  supervisor=$2 supervisor_start=$3 group=-
  # shellcheck disable=SC2086 # the line is words
  set -- $watcher
  [ -n "$3" ] && supervisor=$1 supervisor_start=$2 group=$3
  follower='' follower_start=''
  { read -r follower follower_start < "$lock/follower"; } 2> /dev/null
  if living; then
    kin
    # shellcheck disable=SC2086 # a list of pids
    kill -TERM $living 2> /dev/null
    [ "$group" != - ] && kill -TERM -"$group" 2> /dev/null
    tries=0
    while [ $tries -lt $((${grace%.*} * 10 + 11)) ] && living; do
      nap
      tries=$((tries + 1))
    done
    if living; then
      kin
      # shellcheck disable=SC2086 # lists of pids
      kill -KILL $living $kin 2> /dev/null
      [ "$group" != - ] && kill -KILL -"$group" 2> /dev/null
    fi
    tries=0
    while [ $tries -lt 20 ] && living; do
      nap
      tries=$((tries + 1))
    done
  fi
  if living; then
    answer "survivors:${living# }"
    exit 1
  fi
  rm -rf "$lock"
  if searchable; then answer confirmed; else answer unverified; fi
}

# stop_steps PID GROUP START: kills a preflight's process group where it
# runs, if that pid still is the same process (pid, group and start time
# agree): never another's
stop_steps() {
  if fields "$1"; then
    # shellcheck disable=SC2086 # the fields are words
    set -- "$1" "$2" "$3" $fields
    if [ "$6" = "$2" ] && [ "${23}" = "$3" ]; then
      kill -KILL -"$2" 2> /dev/null
      answer confirmed
      exit 0
    fi
  fi
  answer not-running
}

case $mode in
  run) stop_run "$@" ;;
  steps) stop_steps "$@" ;;
esac
