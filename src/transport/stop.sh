# stagerun remote stop: stops attempt NONCE's suite where it runs and says so.
#   sh -c STOP stagerun-stop NONCE STATE LOCK GRACE
# Prints @@stagerun:NONCE:stopped:RESULT[:PIDS]@@ with RESULT one of
# not-running (nothing of this attempt holds the lock), confirmed, survivors.
n=$1 s=$2 l=$3 g=$4
L=$s/$l.lock
# @procs: src/transport/procs.sh goes here
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
