#!/bin/bash
# prof.sh SRV SIZE OUT: pinned apart, perf record the server for 3 s of a 4 s load
srv=$1; size=$2; out=$3
if [ $srv = aio ]; then taskset -c 1 ${ECHO:-/work/bin/echo61} -addr 127.0.0.1:9100 >/dev/null 2>&1 & else taskset -c 1 /work/bin/lg2 -serve -a 127.0.0.1:9100 >/dev/null 2>&1 & fi
spid=$!
sleep 0.5
taskset -c 0 /work/bin/lg2 -a 127.0.0.1:9100 -c ${CONNS:-64} -s $size -d 4s > $out.rate &
lpid=$!
sleep 0.5
perf record -F 2000 -g -p $spid -o $out.data -- sleep 3 >/dev/null 2>&1
wait $lpid
kill $spid; wait $spid 2>/dev/null
cat $out.rate
