#!/bin/bash
port=$1; shift
"$@" >/dev/null 2>&1 & sp=$!
sleep 0.4
/work/bin/lg -addr 127.0.0.1:$port -c 1 -d 5s > /tmp/lgc1.out & lp=$!
sleep 1.2
perf stat -x, -e raw_syscalls:sys_enter,context-switches,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_futex,syscalls:sys_enter_nanosleep,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_sched_yield,sched:sched_wakeup -p $sp -- sleep 3 2> /tmp/c1perf.out
wait $lp; kill -9 $sp; wait $sp 2>/dev/null
rate=$(awk '{print $1}' /tmp/lgc1.out)
python3 - "$rate" <<'PY'
import sys
rate=float(sys.argv[1]); n=rate*3
out=["%.0f msg/s" % rate]
for l in open('/tmp/c1perf.out'):
    p=l.strip().split(',')
    if len(p)>3 and p[0] not in ('','<not counted>'):
        out.append("%s %.2f" % (p[2].split(':')[-1].replace('sys_enter_',''), float(p[0])/n))
print("  ".join(out))
PY
