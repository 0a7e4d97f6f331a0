# stagerun's process helpers, shared by wrapper.sh and stop.sh: each script
# is sent as its own text with this one in place of its `# @procs` line.
# They read /proc only (no ps, no pgrep); $nonce names the run they look for.

newline='
'

# nap: a tenth of a second (a whole one where sleep takes no fractions)
nap() {
  sleep 0.1 2> /dev/null || sleep 1
}

# fields PID: sets $fields to /proc/PID/stat after the command name (state,
# ppid, pgrp …); the name may hold spaces and parentheses, so the line is
# cut at its last ") "
fields() {
  { read -r fields < "/proc/$1/stat"; } 2> /dev/null || return 1
  fields=${fields##*") "}
}

# started PID: sets $started to the start time of PID, which tells it from a
# later process with the same pid; false when PID is gone or a zombie
started() {
  started=
  fields "$1" || return 1
  # shellcheck disable=SC2086 # the fields are words
  set -- $fields
  case $1 in Z | X) return 1 ;; esac
  started=${20}
}

# alive PID START: true while PID is the process that started at START
alive() {
  [ -n "$2" ] && started "$1" && [ "$started" = "$2" ]
}

# members GROUP EXCEPT: sets $members to the live processes of process group
# GROUP other than pid EXCEPT; false when there are none
members() {
  members=
  # (kill -0 finds an empty group at once: no scan of /proc)
  kill -0 -"$1" 2> /dev/null || return 1
  for proc in /proc/[0-9]*; do
    proc=${proc#/proc/}
    fields "$proc" || continue
    # shellcheck disable=SC2086 # the fields are words
    set -- "$1" "$2" $fields
    case $3 in Z | X) continue ;; esac
    [ "$5" = "$1" ] && [ "$proc" != "$2" ] && members="$members $proc"
  done
  [ -n "$members" ]
}

# children PID: sets $children to the live processes whose parent is PID
children() {
  children=
  for proc in /proc/[0-9]*; do
    proc=${proc#/proc/}
    fields "$proc" || continue
    # shellcheck disable=SC2086 # the fields are words
    set -- "$1" $fields
    case $2 in Z | X) continue ;; esac
    [ "$3" = "$1" ] && children="$children $proc"
  done
  [ -n "$children" ]
}

# carries PID: true when PID's environment holds the run's tag. read drops
# the NULs between the variables (busybox grep stops at the first), so the
# tag is found wherever it stands
carries() {
  while IFS= read -r environment || [ -n "$environment" ]; do
    case $environment in *"STAGERUN_RUN=$nonce"*) return 0 ;; esac
    environment=
  done < "/proc/$1/environ"
  return 1
} 2> /dev/null

# tagged PROBE: sets $tagged to the live processes that carry the run's tag:
# the suite's descendants, also those that left its group (setsid twice, a
# daemon); false when none do. One grep -z reads the environments (the
# shell's read takes a syscall a byte). PROBE, a file holding the tag, is
# searched first: unless grep names it (no grep, no -z) the shell reads the
# environments itself. Processes gone meanwhile are grep's errors, not ours.
tagged() {
  tagged=
  readable=
  for proc in /proc/[0-9]*; do
    [ -r "$proc/environ" ] && readable="$readable $proc/environ"
  done
  # shellcheck disable=SC2086 # a list of files
  found=$(grep -l -a -F -z -e "STAGERUN_RUN=$nonce" "$1" $readable 2> /dev/null)
  if [ -n "$1" ] && [ "${found%%"$newline"*}" = "$1" ]; then
    for proc in ${found#"$1"}; do
      proc=${proc#/proc/}
      proc=${proc%/environ}
      started "$proc" && tagged="$tagged $proc"
    done
  else
    for proc in $readable; do
      proc=${proc#/proc/}
      proc=${proc%/environ}
      carries "$proc" && started "$proc" && tagged="$tagged $proc"
    done
  fi
  [ -n "$tagged" ]
}

# searchable: true when the tag search can see this user's processes here
# (/proc mounted, environments readable), so finding none means none are left
searchable() {
  [ -r /proc/self/environ ]
}
