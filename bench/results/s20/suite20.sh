#!/bin/bash
# the whole suite, -count 3, in the three conditions: suite20.sh OUT BUILD
out=$1; b=$2; mkdir -p $out
for cond in quiet stress procs1; do
  case $cond in quiet) fl="";; stress) fl="-stress";; procs1) fl="-procs 1";; esac
  /work/bin/$b $fl -count 3 -json $out/log-$cond.json > $out/table-$cond.txt 2> $out/progress-$cond.txt
done
echo done > $out/finished
