#!/bin/bash
# alternate two builds, 3 runs each, per condition: ab7.sh OUT BASE NEW SCEN...
out=$1; base=$2; new=$3; shift 3
mkdir -p $out
for cond in quiet stress procs1; do
  case $cond in quiet) fl="";; stress) fl="-stress";; procs1) fl="-procs 1";; esac
  for sc in "$@"; do
    for i in 1 2 3; do
      for b in $base $new; do
        tag=$(basename $b)
        /work/bin/$b $fl -only $sc -json $out/$cond-$sc-$tag-$i.json > $out/$cond-$sc-$tag-$i.txt 2>&1
      done
    done
  done
done
echo done > $out/DONE
