# stagerun's process helpers, shared by wrapper.sh, stop.sh and preflight's
# stop (each script is sent as this prelude followed by its own text).
# They read /proc only; esc needs grep and the attempt's nonce in $n.
z() { sleep 0.1 2>/dev/null || sleep 1; }
# fields of /proc/$1/stat after the command name: state ppid pgrp ...
# (the name may hold spaces and parentheses, so cut at the last ")")
f() {
  { read -r x < "/proc/$1/stat"; } 2>/dev/null || return 1
  x=${x##*") "}
}
# t_=starttime of live pid $1, told apart from a reused pid
st() {
  t_=
  f "$1" || return 1
  set -- $x
  case $1 in Z | X) return 1 ;; esac
  t_=${20}
}
# u_=live members of process group $1 other than pid $2
mem() {
  u_=
  for q in /proc/[0-9]*; do
    q=${q#/proc/}
    f "$q" || continue
    set -- "$1" "$2" $x
    case $3 in Z | X) continue ;; esac
    [ "$5" = "$1" ] && [ "$q" != "$2" ] && u_="$u_ $q"
  done
  [ -n "$u_" ]
}
# e_=live processes that carry this attempt's tag in their environment: the
# suite's descendants, also those that left its group (setsid twice, a
# daemon); needs grep, else none are known
esc() {
  e_=
  for q in $(grep -l -a -F "STAGERUN_RUN=$n" /proc/[0-9]*/environ 2>/dev/null); do
    q=${q#/proc/}
    q=${q%/environ}
    [ "$q" != "$$" ] && st "$q" && e_="$e_ $q"
  done
  [ -n "$e_" ]
}
