#!/bin/bash
# pxab.sh ROUNDS SECS "PORT..." : alternate lg2 -c 8 -s 1MiB against each port, print rate and proxy CPU ms per message
rounds=$1; secs=$2; ports=$3; c=${4:-8}
pid() { ss -ltnp | grep ":$1 " | sed 's/.*pid=\([0-9]*\).*/\1/' | head -1; }
for i in $(seq 1 $rounds); do for port in $ports; do
  P=$(pid $port); t0=$(awk '{print $14+$15}' /proc/$P/stat)
  r=$(/work/bin/lg2 -a 127.0.0.1:$port -c $c -s 1048576 -d ${secs}s 2>&1 | tail -1 | awk '{print $1}')
  t1=$(awk '{print $14+$15}' /proc/$P/stat)
  echo "$port $r $(python3 -c "print('%.3f' % (($t1-$t0)*10/($r*$secs)))")"
done; done
