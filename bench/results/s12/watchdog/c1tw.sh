#!/bin/bash
port=$1; shift
"$@" >/dev/null 2>&1 & sp=$!
sleep 0.4
/work/bin/lg -addr 127.0.0.1:$port -c 1 -d 5s > /tmp/lgc1.out & lp=$!
sleep 1.2
perf stat -x, -e context-switches -e syscalls:sys_exit_futex --filter 'ret == -512' -e syscalls:sys_exit_epoll_pwait --filter 'ret == -4' -e syscalls:sys_exit_futex -e syscalls:sys_exit_epoll_pwait -p $sp -- sleep 3 2> /tmp/c1perf.out
wait $lp; kill -9 $sp; wait $sp 2>/dev/null
rate=$(awk '{print $1}' /tmp/lgc1.out)
python3 - "$rate" <<'PY'
import sys
rate=float(sys.argv[1]); n=rate*3
out=["%.0f msg/s" % rate]
names=['csw','futex-interrupted','epoll-EINTR','futex-all','epoll-all']
i=0
for l in open('/tmp/c1perf.out'):
    p=l.strip().split(',')
    if len(p)>3 and p[0] not in ('','<not counted>'):
        out.append("%s %.3f" % (names[i], float(p[0])/n)); i+=1
print("  ".join(out))
PY
