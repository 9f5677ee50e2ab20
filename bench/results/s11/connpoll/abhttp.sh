#!/bin/bash
# abhttp.sh N BIN_A:IMPL BIN_B:IMPL ...: alternate servers under wrk -c64 (1 thread), N rounds;
# prints req/s and the server's CPU µs per request (utime+stime over the middle 3 s)
n=$1; shift
port=8100
for r in $(seq 1 $n); do
  for spec in "$@"; do
    bin=${spec%%:*}; impl=${spec##*:}; port=$((port+1))
    $bin -impl $impl -addr 127.0.0.1:$port & sp=$!
    sleep 0.4
    wrk -t1 -c64 -d6s http://127.0.0.1:$port/ > /tmp/wrk.out & wp=$!
    sleep 1.5
    c0=$(awk '{print $14+$15}' /proc/$sp/stat); t0=$(date +%s.%N)
    sleep 3
    c1=$(awk '{print $14+$15}' /proc/$sp/stat); t1=$(date +%s.%N)
    wait $wp; kill -9 $sp; wait $sp 2>/dev/null
    rq=$(grep Requests/sec /tmp/wrk.out | awk '{print $2}')
    python3 -c "print('%-28s %-8s %9.0f req/s  server %.2f us/req' % ('$(basename $bin)', '$impl', $rq, ($c1-$c0)*1e4/($rq*($t1-$t0))))"
  done
done
