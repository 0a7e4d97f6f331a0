# stagerun's remote wrapper: POSIX sh (dash, bash, busybox ash), nothing
# installed. It runs where the suite runs (docs/transports.md), in one of:
#   sh -c WRAPPER stagerun run NONCE STATE ITEM DEADLINE GRACE REPORT IDENTITY SINCE LIMIT KEEP LEASE ARGV...
#   sh -c WRAPPER stagerun follow NONCE STATE ITEM OUT ERR LEASE
#   sh -c WRAPPER stagerun steps NONCE STEP...
# run takes the work item's lock, starts the suite under a supervisor that
# does not depend on the channel (its output spooled in STATE/ITEM.lock) and
# follows the spool; follow reattaches to that run at the byte offsets OUT
# and ERR already read; steps runs preflight's steps one after another.
# DEADLINE is in milliseconds, GRACE in seconds, LIMIT (the spool cap per
# stream) in KiB, KEEP (how long an end nobody collected stays adoptable) in
# minutes, LEASE (how long the follower waits for stagerun's keepalive) in
# seconds. Markers, zero-width, on both streams: @@stagerun:NONCE:WHAT@@
#   start:MODE  resume:OUT:ERR  at:OFFSET  end:STATUS:HOW:LEFT:REPORT  cut
#   busy:OTHER  state-error:WHY  refused:WHY  adopt:RUN:SINCE  gone:WHY
#   note:lost:RUN:SINCE  note:uncollected:RUN:STATUS  who:PID:GROUP:START
#   step:INDEX:STATUS
# stdin carries stagerun's keepalives (k) and, after the end, its receipt (a).
mode=$1 nonce=$2
shift 2

# say WHAT: prints a marker on both streams
say() {
  printf '@@stagerun:%s:%s@@' "$nonce" "$1"
  printf '@@stagerun:%s:%s@@' "$nonce" "$1" >&2
}

# @procs: src/transport/procs.sh goes here

# busy OTHER: another run holds the work item here
busy() {
  say "busy:${1:-unknown}"
  exit 75
}

# fail WHY: the lock or the spool cannot be made here
fail() {
  say "state-error:$1"
  exit 70
}

# read_owner: the run in $lock into owner_*: its nonce, identity and start
# (the owner line, written once by the wrapper that took the lock), and who
# watches it: the supervisor and the suite's process group once the
# supervisor has said so (its own line, written once), the wrapper before.
# Each file is written once and never rewritten, so a reader sees a line
# whole or not at all; false when the owner line is not whole yet
read_owner() {
  owner=
  supervisor=
  { read -r owner < "$lock/owner"; } 2> /dev/null
  { read -r supervisor < "$lock/supervisor"; } 2> /dev/null
  # shellcheck disable=SC2086 # the line is words
  set -- $owner
  owner_nonce=$1 owner_pid=$2 owner_start=$3 owner_identity=$4 owner_since=$5 owner_group=-
  watched=
  # shellcheck disable=SC2086 # the line is words
  set -- $supervisor
  [ -n "$3" ] && owner_pid=$1 owner_start=$2 owner_group=$3 watched=1
  [ -n "$owner_since" ]
}

# finished: true once the run in $lock wrote its end status (the line ends
# with "end", so a line cut short is no status); sets $status and $end
finished() {
  status=
  { read -r status < "$lock/status"; } 2> /dev/null
  # shellcheck disable=SC2086 # the line is words
  set -- $status
  [ "$5" = end ] || return 1
  end="$1:$2:$3:$4"
}

# following: true while a live follower is attached to the run in $lock
following() {
  follower=
  { read -r follower < "$lock/follower"; } 2> /dev/null
  # shellcheck disable=SC2086 # the line is words
  set -- $follower
  alive "$1" "$2"
}

# fresh: true while the end in $lock is younger than KEEP minutes
fresh() {
  [ -n "$(find "$lock/status" -mmin -"$keep" 2> /dev/null)" ]
}

# take_over: the lock's run is over: move it aside first, so of two runners
# only one takes it, then start afresh
take_over() {
  mv "$lock" "$lock.$nonce" 2> /dev/null || busy "$owner_nonce"
  moved=
  { read -r moved < "$lock.$nonce/owner"; } 2> /dev/null
  if [ "$moved" != "$owner" ]; then
    mv "$lock.$nonce" "$lock" 2> /dev/null
    busy "${moved%% *}"
  fi
  rm -rf "$lock.$nonce"
  mkdir "$lock" 2> /dev/null || busy unknown
}

# adopt: the run in $lock is this same command and nobody follows it: follow
# it from its first byte instead of starting the suite a second time
adopt() {
  say "adopt:$owner_nonce:$owner_since"
  nonce=$owner_nonce
  follow 0 0 start
}

# attended: true while a follower stays attached to the run in $lock. One
# whose channel is gone leaves once woken (its next write fails): it gets
# two seconds to, then the run counts as attended
attended() {
  following || return 1
  kill -USR1 "${follower%% *}" 2> /dev/null
  tries=0
  while [ $tries -lt 20 ]; do
    nap
    following || return 1
    tries=$((tries + 1))
  done
  return 0
}

# take_lock: takes the work item's lock (a folder that holds the run's spool
# until its end is collected), adopts the same command's unattended run, or
# says busy
take_lock() {
  mkdir "$lock" 2> /dev/null && return 0
  mkdir -p "$state" 2> /dev/null
  mkdir "$lock" 2> /dev/null && return 0
  [ -d "$lock" ] || fail "cannot create $lock"
  read_owner || busy unknown
  if [ -e "$lock/collected" ]; then
    # its follower is removing it: wait for that (taking it over meanwhile
    # would let that removal take the new run's folder)
    tries=0
    while [ -d "$lock" ] && [ $tries -lt 20 ]; do
      nap
      tries=$((tries + 1))
    done
    mkdir "$lock" 2> /dev/null && return 0
    read_owner || busy unknown
    take_over
  elif finished; then
    if [ "$owner_identity" = "$identity" ]; then
      attended && busy "$owner_nonce"
      fresh && adopt
    fi
    following && busy "$owner_nonce"
    say "note:uncollected:$owner_nonce:${status%% *}"
    take_over
  elif alive "$owner_pid" "$owner_start"; then
    [ "$owner_identity" = "$identity" ] && ! attended && adopt
    busy "$owner_nonce"
  else
    # its supervisor is gone without an end: nothing watches what is left
    [ "$owner_group" != - ] && members "$owner_group" 0 && kill -KILL -"$owner_group" 2> /dev/null
    say "note:lost:$owner_nonce:$owner_since"
    take_over
  fi
}

# signal_suite SIGNAL: the suite's own session, or (no setsid) the suite and
# whatever carries its tag
signal_suite() {
  if [ "$group" != - ]; then
    kill -"$1" -"$group" 2> /dev/null
  else
    kill -"$1" "$suite" 2> /dev/null
    # shellcheck disable=SC2086 # a list of pids
    tagged "$lock/tag" && kill -"$1" $tagged 2> /dev/null
  fi
}

# leftovers: true while something the suite started lives: its group, or a
# process with its tag; $left lists them
leftovers() {
  left=
  [ "$group" != - ] && members "$group" 0 && left=$members
  tagged "$lock/tag" && left="$left$tagged"
  [ -n "$left" ]
}

# watch: the deadline (an ALRM to the supervisor) and the spool cap, looked
# at every 2 s: a spool past LIMIT KiB is emptied and marked cut. It is not
# signalled to stop (dash can lose a signal that lands as it forks): its
# sleep is, with timer.stop beside it, and it reaps the sleep and goes
watch() {
  wait_left=$deadline
  while [ "$wait_left" -gt 0 ]; do
    step=$wait_left
    [ "$step" -gt 2000 ] && step=2000
    millis=$((step % 1000))
    case $millis in ?) millis=00$millis ;; ??) millis=0$millis ;; esac
    sleep "$((step / 1000)).$millis" &
    sleeper=$!
    started "$sleeper" && echo "$sleeper $started" > "$lock/timer"
    [ -e "$lock/timer.stop" ] && kill "$sleeper" 2> /dev/null
    wait "$sleeper"
    [ -e "$lock/timer.stop" ] && exit 0
    wait_left=$((wait_left - step))
    [ "$wait_left" -gt 0 ] || break
    [ -e "$lock/out.cut" ] && [ -e "$lock/err.cut" ] && continue
    big=$(find "$lock/out" "$lock/err" -size +"$limit"k 2> /dev/null)
    for stream in out err; do
      case $big in *"/$stream"*) ;; *) continue ;; esac
      [ -e "$lock/$stream.cut" ] && continue
      : > "$lock/$stream.cut"
      : > "$lock/$stream"
    done
  done
  alive "$self" "$self_start" && kill -ALRM "$self"
}

# stop_watch: ends the watch (timer.stop, then its sleep if it is the one
# it said) and reaps it: a container whose PID 1 never reaps keeps every
# orphan that dies as a zombie, and each one slows every scan of /proc. A
# watch that fired the deadline has gone already: bash's wait for a child
# it reaped on its own waits for the next child to end, so none is waited
stop_watch() {
  : > "$lock/timer.stop"
  timer=
  { read -r timer < "$lock/timer"; } 2> /dev/null
  # shellcheck disable=SC2086 # the line is words
  set -- $timer
  alive "$1" "$2" && kill "$1" 2> /dev/null
  [ "$how" = deadline ] || wait "$watcher" 2> /dev/null
}

# supervise ARGV: owns the suite's life: starts it with its output in the
# spool, enforces the deadline (TERM, the grace, KILL), stops what it left,
# writes the end status and wakes the follower. Never writes to the channel,
# and a hangup or a broken pipe does not stop it: it outlives the channel.
supervise() {
  # (a wake or a keepalive meant for a follower must not end it either)
  trap '' HUP USR1 USR2
  { read -r self < /proc/self/stat; } 2> /dev/null
  self=${self%% *}
  started "$self"
  self_start=$started
  # what the tag search must find where grep works (procs.sh, tagged)
  printf 'STAGERUN_RUN=%s\0' "$nonce" > "$lock/tag"
  export PYTHONUNBUFFERED=1
  trap 'event=alarm' ALRM
  trap 'event=stop' TERM INT
  # the suite gets hangups back, and its own session where setsid exists
  launcher=
  command -v setsid > /dev/null 2>&1 && launcher=setsid
  (
    trap - HUP USR1 USR2
    export STAGERUN_RUN="$nonce"
    # shellcheck disable=SC2086 # no launcher is no word
    exec $launcher "$@"
  ) < /dev/null >> "$lock/out" 2>> "$lock/err" &
  suite=$!
  group=-
  [ -n "$launcher" ] && group=$suite
  echo "$self $self_start $group" > "$lock/supervisor"
  watch &
  watcher=$!
  how=ok phase=0 grace_sleep='' grace_watch=''
  while :; do
    event=
    wait "$suite"
    code=$?
    [ -z "$event" ] && break
    if [ $phase = 0 ]; then
      [ "$event" = alarm ] && how=deadline || how=stopped
      phase=1
      signal_suite TERM
      # the grace: a sleep, and a watcher that signals us when it ends; both
      # are killed outright once the suite is gone (no signal race)
      (
        trap '' TERM
        exec sleep "$grace"
      ) &
      grace_sleep=$!
      (
        trap '' TERM
        while started "$grace_sleep"; do nap; done
        alive "$self" "$self_start" && kill -ALRM "$self"
      ) &
      grace_watch=$!
    elif [ "$event" = alarm ]; then
      signal_suite KILL
    fi
  done
  trap '' TERM ALRM
  stop_watch
  [ -n "$grace_watch" ] && kill -9 "$grace_watch" "$grace_sleep" 2> /dev/null
  gone=none
  if leftovers; then
    signal_suite TERM
    # shellcheck disable=SC2086 # a list of pids
    [ -n "$left" ] && kill -TERM $left 2> /dev/null
    tries=0
    while [ $tries -lt $((${grace%.*} * 10 + 1)) ] && leftovers; do
      nap
      tries=$((tries + 1))
    done
    signal_suite KILL
    # shellcheck disable=SC2086 # a list of pids
    [ -n "$left" ] && kill -KILL $left 2> /dev/null
    nap
    if leftovers; then
      gone=
      for proc in $left; do gone=${gone:+$gone,}$proc; done
    fi
  fi
  [ "$gone" = none ] && ! searchable && gone=unverified
  written=-
  if [ -n "$report" ]; then
    # removed before the start: whatever is there now (a file, or a FIFO or
    # folder the read-back names) is this run's
    written=absent
    { [ -e "$report" ] || [ -L "$report" ]; } && written=written
  fi
  echo "$code $how $gone $written end" > "$lock/status"
  following && kill -USR1 "${follower%% *}" 2> /dev/null
}

# pump FD STREAM: what the spool FD gained since the last look goes to the
# channel, then a marker with the spool's offset after it; false when
# nothing came
pump() {
  cat <&"$1" >&"$2" || leave
  { read -r _ position; } < "/proc/$$/fdinfo/$1"
  if [ "$1" = 3 ]; then
    [ "$position" = "$out_at" ] && return 1
    out_at=$position
  else
    [ "$position" = "$err_at" ] && return 1
    err_at=$position
  fi
  printf '@@stagerun:%s:at:%s@@' "$nonce" "$position" >&"$2"
}

# rest MILLIS: an idle pause that a signal (the supervisor's wake, the
# keepalive) cuts short
rest() {
  case $1 in ?) pause=0.00$1 ;; ??) pause=0.0$1 ;; ???) pause=0.$1 ;; *) pause=1 ;; esac
  sleep "$pause" &
  napper=$!
  [ -z "$wake" ] && wait "$napper"
  kill "$napper" 2> /dev/null
  wait "$napper" 2> /dev/null
  napper=
}

# listen: reads stagerun's keepalives (a USR2 to the follower each) and its
# receipt (exit 0); the end of stdin means stagerun has gone (exit 1, and
# the follower leaves)
listen() {
  while IFS= read -r said; do
    case $said in
      k) kill -USR2 "$follower_pid" 2> /dev/null ;;
      a) exit 0 ;;
    esac
  done
  kill -TERM "$follower_pid" 2> /dev/null
  exit 1
}

# leave: the follower goes (its channel is gone, or another took over); the
# run goes on without it
leave() {
  [ -n "$napper" ] && kill "$napper" 2> /dev/null
  [ -n "$listener" ] && kill "$listener" 2> /dev/null
  exit 0
}

# gone WHY: there is no run to follow here
gone() {
  say "gone:$1"
  exit 0
}

# follow OUT ERR HOW: streams the spool from these offsets to the channel,
# each piece followed by its offset, then the end status; HOW is start (a
# new or adopted run) or resume (a reattach). Once stagerun has said it got
# the end, the lock and the spool are removed.
follow() {
  if [ ! -r "$lock/out" ] || [ ! -r "$lock/err" ]; then gone no-run; fi
  exec 3< "$lock/out" 4< "$lock/err" 5<&0
  [ "$1" = 0 ] || dd bs=1 skip="$1" count=0 <&3 2> /dev/null
  [ "$2" = 0 ] || dd bs=1 skip="$2" count=0 <&4 2> /dev/null
  out_at=$1 err_at=$2
  if following; then
    # a reattach replaces a follower whose channel is gone but who has not
    # noticed yet (a stalled session): it and what it runs stop at once,
    # but for the supervisor, which the first follower started
    stale=${follower%% *}
    if read_owner && [ -n "$watched" ]; then
      children "${follower%% *}"
      for child in $children; do
        [ "$child" = "$owner_pid" ] || stale="$stale $child"
      done
    fi
    # shellcheck disable=SC2086 # a list of pids
    kill -KILL $stale 2> /dev/null
  fi
  # the traps first: once registered, the supervisor may wake us at once
  wake='' napper='' listener=''
  trap 'wake=1' USR1
  trap 'since_keepalive=0' USR2
  trap leave TERM INT HUP
  trap '' PIPE
  follower_pid=$$
  started $$
  echo "$$ $started" > "$lock/follower"
  if [ "$3" = start ]; then
    if command -v setsid > /dev/null 2>&1; then say start:session; else say start:group; fi
  else
    say "resume:$1:$2"
  fi
  idle=0 since_keepalive=0 waited=0 pumps=0 out_cut='' err_cut=''
  while :; do
    wake=
    ended=
    finished && ended=1
    moved=
    # a spool emptied at the cap has nothing more of its stream to give
    if [ -z "$out_cut" ] && [ -e "$lock/out.cut" ]; then
      out_cut=1
      printf '@@stagerun:%s:cut@@' "$nonce"
    fi
    if [ -z "$err_cut" ] && [ -e "$lock/err.cut" ]; then
      err_cut=1
      printf '@@stagerun:%s:cut@@' "$nonce" >&2
    fi
    [ -z "$out_cut" ] && [ -s "$lock/out" ] && pump 3 1 && moved=1
    [ -z "$err_cut" ] && [ -s "$lock/err" ] && pump 4 2 && moved=1
    pumps=$((pumps + 1))
    [ -n "$ended" ] && break
    # (said only when it holds twice: a line being written reads as none)
    if ! read_owner || [ "$owner_nonce" != "$nonce" ]; then
      nap
      if ! read_owner || [ "$owner_nonce" != "$nonce" ]; then gone no-run; fi
    fi
    if ! alive "$owner_pid" "$owner_start" && ! finished; then
      nap
      read_owner
      alive "$owner_pid" "$owner_start" || finished || gone lost
    fi
    if [ -n "$moved" ]; then
      idle=0
      if [ -z "$listener" ] && [ $pumps -ge 20 ]; then
        listen <&5 &
        listener=$!
      fi
      continue
    fi
    # nothing came: say where we are, which is also how a dead channel shows
    printf '@@stagerun:%s:at:%s@@' "$nonce" "$out_at" 2> /dev/null || leave
    [ -n "$wake" ] && continue
    pause_ms=$((50 << idle))
    [ $pause_ms -gt 1000 ] && pause_ms=1000
    [ $idle -lt 5 ] && idle=$((idle + 1))
    rest $pause_ms
    waited=$((waited + pause_ms))
    since_keepalive=$((since_keepalive + pause_ms))
    if [ -z "$listener" ] && { [ $waited -ge 1000 ] || [ $pumps -ge 20 ]; }; then
      listen <&5 &
      listener=$!
    fi
    [ -n "$listener" ] && [ $since_keepalive -gt $((lease * 1000)) ] && leave
  done
  say "end:$end"
  if [ -n "$listener" ]; then
    wait "$listener"
    receipt=$?
  else
    receipt=1
    while IFS= read -r said <&5; do
      [ "$said" = a ] && receipt=0 && break
    done
  fi
  if [ $receipt = 0 ]; then
    : > "$lock/collected"
    rm -rf "$lock"
  fi
  # the supervisor (it has ended) is reaped here, not left a zombie
  wait 2> /dev/null
  exit 0
}

# run ARGV: a new run of the suite, or the adoption of the same command's
# run that nobody follows
run() {
  state=$1 item=$2 deadline=$3 grace=$4 report=$5 identity=$6 since=$7 limit=$8 keep=$9
  shift 9
  lease=$1
  shift
  lock=$state/$item.lock
  take_lock
  started $$
  echo "$nonce $$ $started $identity $since" > "$lock/owner"
  if [ -n "$report" ]; then
    # a report left by an earlier run must never pass for this one's
    why=$(rm -f "$report" 2>&1)
    if [ -e "$report" ] || [ -L "$report" ]; then
      rm -rf "$lock"
      say "refused:the suite's report $report is left from an earlier run and cannot be removed (${why:-it stays})"
      exit 78
    fi
  fi
  { : > "$lock/out" && : > "$lock/err"; } 2> /dev/null || fail "cannot write the spool in $lock"
  supervise "$@" < /dev/null > /dev/null 2>&1 &
  follow 0 0 start
}

# own_group: sets $own_group to this shell's process group
own_group() {
  fields $$
  # shellcheck disable=SC2086 # the fields are words
  set -- $fields
  own_group=$3
}

# steps STEP...: preflight's steps, one after another, each followed by its
# exit status; the first that fails ends them. First it says who it is, so
# a preflight cut off can be stopped where it runs
steps() {
  own_group
  started $$
  say "who:$$:$own_group:$started"
  index=0
  for step do
    eval "$step" < /dev/null
    code=$?
    say "step:$index:$code"
    [ $code = 0 ] || exit 0
    index=$((index + 1))
  done
}

case $mode in
  run) run "$@" ;;
  follow)
    state=$1 item=$2 lease=$5
    lock=$state/$item.lock
    if ! read_owner || [ "$owner_nonce" != "$nonce" ]; then gone no-run; fi
    follow "$3" "$4" resume
    ;;
  steps) steps "$@" ;;
  *)
    say "state-error:unknown mode $mode"
    exit 70
    ;;
esac
