#!/bin/bash
# c1stat.sh PORT CMD...: run the server, lg -c 1, perf stat the server over 3 s; per-message counts
port=$1; shift
"$@" >/dev/null 2>&1 & sp=$!
sleep 0.4
/work/bin/lg -addr 127.0.0.1:$port -c 1 -d 5s > /tmp/lgc1.out & lp=$!
sleep 1.2
perf stat -x, -e raw_syscalls:sys_enter,context-switches,task-clock -p $sp -- sleep 3 2> /tmp/c1perf.out
wait $lp; kill -9 $sp; wait $sp 2>/dev/null
rate=$(awk '{print $1}' /tmp/lgc1.out)
python3 - "$rate" <<'PY'
import sys
rate=float(sys.argv[1]); n=rate*3
d={}
for l in open('/tmp/c1perf.out'):
    p=l.strip().split(',')
    if len(p)>3 and p[0] not in ('','<not counted>'):
        d[p[2]]=float(p[0])
print("%8.0f msg/s  sys/msg %.2f  csw/msg %.2f  cpu us/msg %.2f" % (rate, d.get('raw_syscalls:sys_enter',0)/n, d.get('context-switches',0)/n, d.get('task-clock',0)*1e3/n))
PY
