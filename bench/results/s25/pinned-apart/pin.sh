#!/bin/bash
# pin.sh SRV(aio|net) PINMODE(none|apart|same) SIZE CONNS
srv=$1; mode=$2; size=$3; conns=$4
case $mode in none) ps="";pl="";; apart) ps="taskset -c 1";pl="taskset -c 0";; same) ps="taskset -c 0";pl="taskset -c 0";; esac
if [ $srv = aio ]; then $ps ${ECHO:-/work/bin/echo61} $EARGS -addr 127.0.0.1:9100 >/dev/null 2>&1 & else $ps /work/bin/lg2 -serve -a 127.0.0.1:9100 >/dev/null 2>&1 & fi
spid=$!
sleep 0.5
s0=$(awk '{print $14+$15}' /proc/$spid/stat)
out=$( { /usr/bin/time -f "LG %U %S" $pl /work/bin/lg2 -a 127.0.0.1:9100 -c $conns -s $size -d 4s; } 2>&1 )
s1=$(awk '{print $14+$15}' /proc/$spid/stat)
kill $spid; wait $spid 2>/dev/null
echo "$srv $mode $size c$conns :: $(echo "$out" | tr '\n' ' ') :: srvticks $((s1-s0))"
