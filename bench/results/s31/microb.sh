#!/bin/bash
# microb.sh PKG OUT "B1 B2" REGEX [benchtime]: /tmp/PKG_B.test binaries alternated,
# 3 runs each, quiet, beside two `yes`, and with GOMAXPROCS=1.
pkg=$1; out=$2; builds=$3; re=$4; bt=${5:-1s}
: > $out
for cond in ${CONDS:-quiet stress procs1}; do
  for r in $(seq 1 ${RUNS:-3}); do
    for b in $builds; do
      pids=""
      env=""
      if [ $cond = stress ]; then yes >/dev/null & pids="$!"; yes >/dev/null & pids="$pids $!"; fi
      if [ $cond = procs1 ]; then env="GOMAXPROCS=1"; fi
      echo "=== cond=$cond run=$r build=$b" >> $out
      (cd /tmp && env $env /tmp/${pkg}_$b.test -test.run '^$' -test.bench "$re" -test.count 1 -test.benchtime $bt -test.benchmem) >> $out 2>&1
      [ -n "$pids" ] && kill $pids
      wait 2>/dev/null
    done
  done
done
echo DONE >> $out
