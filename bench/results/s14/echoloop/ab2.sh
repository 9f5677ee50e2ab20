#!/bin/bash
out=$1; base=$2; new=$3; shift 3
mkdir -p $out
for cond in stress procs1; do
  case $cond in stress) fl="-stress";; procs1) fl="-procs 1";; esac
  for sc in "$@"; do
    for i in 4 5 6; do
      for b in $base $new; do
        /work/bin/$b $fl -only $sc -json $out/$cond-$sc-$b-$i.json > $out/$cond-$sc-$b-$i.txt 2>&1
      done
    done
  done
done
echo done > $out/DONE2
