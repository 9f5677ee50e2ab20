#!/bin/bash
# abecho.sh N CONNS "CMD1" "CMD2" ...: each CMD is a server command line with PORT in it;
# alternated N rounds under lg -c CONNS; prints msg/s and the server's CPU µs per message.
n=$1; conns=$2; shift 2
port=7100
for r in $(seq 1 $n); do
  for cmd in "$@"; do
    port=$((port+1))
    c=${cmd//PORT/$port}
    $c > /dev/null 2>&1 & sp=$!
    sleep 0.4
    /work/bin/lg -addr 127.0.0.1:$port -c $conns -d 5s > /tmp/lg.out & lp=$!
    sleep 1
    c0=$(awk '{print $14+$15}' /proc/$sp/stat); t0=$(date +%s.%N)
    sleep 3
    c1=$(awk '{print $14+$15}' /proc/$sp/stat); t1=$(date +%s.%N)
    wait $lp; kill -9 $sp; wait $sp 2>/dev/null
    rate=$(awk '{print $1}' /tmp/lg.out)
    python3 -c "print('%-50s %9.0f msg/s  server %.2f us/msg' % ('$cmd'[:50], $rate, ($c1-$c0)*1e4/($rate*($t1-$t0))))"
  done
done
