#!/bin/bash
# pin2.sh SRV SIZE CONNS [env...]: unpinned, perf stat on server and loadgen
srv=$1; size=$2; conns=$3
if [ $srv = aio ]; then /work/bin/echo61 -addr 127.0.0.1:9100 >/dev/null 2>&1 & else /work/bin/lg2 -serve -a 127.0.0.1:9100 >/dev/null 2>&1 & fi
spid=$!
sleep 0.5
perf stat -e context-switches,cpu-migrations,raw_syscalls:sys_enter,sched:sched_wakeup -p $spid -o /tmp/srvstat.txt -- sleep 4 &
ppid=$!
perf stat -e context-switches,cpu-migrations,raw_syscalls:sys_enter,sched:sched_wakeup -o /tmp/lgstat.txt /work/bin/lg2 -a 127.0.0.1:9100 -c $conns -s $size -d 4s > /tmp/lgout.txt 2>&1
wait $ppid
kill $spid; wait $spid 2>/dev/null
rate=$(awk '{print $1}' /tmp/lgout.txt)
echo "$srv $size c$conns rate $rate"
for f in srv lg; do awk -v r=$rate -v f=$f '/context-switches|cpu-migrations|sys_enter|sched_wakeup|task-clock/ {gsub(",","",$1); printf "  %s %-28s %.3f/msg\n", f, $2, $1/(r*4)}' /tmp/${f}stat.txt; done
