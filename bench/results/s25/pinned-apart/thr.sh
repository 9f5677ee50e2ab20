#!/bin/bash
# thr.sh SRV SIZE CONNS: per-thread CPU ticks of the server over a 4 s load
srv=$1; size=$2; conns=$3
if [ $srv = aio ]; then ${ECHO:-/work/bin/echo61} -addr 127.0.0.1:9100 >/dev/null 2>&1 & else /work/bin/lg2 -serve -a 127.0.0.1:9100 >/dev/null 2>&1 & fi
spid=$!
sleep 0.5
/work/bin/lg2 -a 127.0.0.1:9100 -c $conns -s $size -d 4s
for t in /proc/$spid/task/*; do echo "$(basename $t) $(cat $t/comm) $(awk '{print $14+$15}' $t/stat)"; done | sort -k3 -n -r | head -8 | tr '\n' ';'; echo
kill $spid; wait $spid 2>/dev/null
