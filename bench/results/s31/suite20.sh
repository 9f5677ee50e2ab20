#!/bin/bash
# suite20.sh OUT BUILD: the whole suite, -count 3, quiet, -stress, -procs 1.
out=$1; b=$2
mkdir -p $out
cd /tmp
for cond in quiet stress procs1; do
  flag=""
  [ $cond = stress ] && flag="-stress"
  [ $cond = procs1 ] && flag="-procs 1"
  /work/bin/b$b -count 3 $flag -json $out/log-$cond.json > $out/table-$cond.txt 2> $out/progress-$cond.txt
done
echo finished > $out/finished
