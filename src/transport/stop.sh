# stagerun remote stop: stops attempt NONCE's suite where it runs and says so.
#   sh -c STOP stagerun-stop NONCE STATE LOCK GRACE
# Prints @@stagerun:NONCE:stopped:RESULT[:PIDS]@@ with RESULT one of
# not-running (nothing of this attempt holds the lock), confirmed, survivors.
n=$1 s=$2 l=$3 g=$4
L=$s/$l.lock
z() { sleep 0.1 2>/dev/null || sleep 1; }
f() {
  { read -r x < "/proc/$1/stat"; } 2>/dev/null || return 1
  x=${x##*") "}
}
st() {
  t_=
  f "$1" || return 1
  set -- $x
  case $1 in Z | X) return 1 ;; esac
  t_=${20}
}
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
o=
{ read -r o < "$L/owner"; } 2>/dev/null
set -- $o
if [ "$1" != "$n" ]; then
  echo "@@stagerun:$n:stopped:not-running@@"
  exit 0
fi
wp=$2 ws=$3 pg=$4
# the wrapper's own group (its deadline timer) goes too when it leads one
wg=
f "$wp" && set -- $x && [ "$3" = "$wp" ] && wg=$wp
# live: the suite's group or the wrapper itself (w_ lists what lives)
lv() {
  w_=
  [ -n "$pg" ] && mem "$pg" 0 && w_=$u_
  [ -n "$wg" ] && [ "$wg" != "$pg" ] && mem "$wg" 0 && w_="$w_$u_"
  st "$wp" && [ "$t_" = "$ws" ] && w_="$w_ $wp"
  esc && w_="$w_$e_"
  [ -n "$w_" ]
}
k() {
  [ -n "$pg" ] && kill -"$1" -"$pg" 2>/dev/null
  [ -n "$wg" ] && kill -"$1" -"$wg" 2>/dev/null
  st "$wp" && [ "$t_" = "$ws" ] && kill -"$1" "$wp" 2>/dev/null
  esc && kill -"$1" $e_ 2>/dev/null
}
if lv; then
  k TERM
  i=0
  while [ $i -lt $((${g%.*} * 10 + 1)) ] && lv; do
    z
    i=$((i + 1))
  done
  k KILL
  i=0
  while [ $i -lt 20 ] && lv; do
    z
    i=$((i + 1))
  done
fi
if lv; then
  echo "@@stagerun:$n:stopped:survivors:${w_# }@@"
  exit 1
fi
rm -rf "$L"
echo "@@stagerun:$n:stopped:confirmed@@"
