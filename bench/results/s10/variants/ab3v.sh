#!/bin/bash
# three builds alternated, 3 runs each, per condition: ab3v.sh OUT A B C SCEN...
out=$1; a=$2; b=$3; c=$4; shift 4
mkdir -p $out
for cond in quiet stress procs1; do
  case $cond in quiet) fl="";; stress) fl="-stress";; procs1) fl="-procs 1";; esac
  for sc in "$@"; do
    for i in 1 2 3; do
      for x in $a $b $c; do
        /work/bin/$x $fl -only $sc -json $out/$cond-$sc-$x-$i.json > $out/$cond-$sc-$x-$i.txt 2>&1
      done
    done
  done
done
echo done > $out/DONE
