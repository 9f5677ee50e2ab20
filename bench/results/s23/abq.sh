#!/bin/bash
# abq.sh OUT "B1 B2" "COND..." SCEN...: alternate builds, 3 runs each, per condition given
out=$1; builds=$2; conds=$3; shift 3
mkdir -p $out
for cond in $conds; do
  case $cond in quiet) fl="";; stress) fl="-stress";; procs1) fl="-procs 1";; esac
  for sc in "$@"; do
    for i in 1 2 3; do
      for b in $builds; do
        /work/bin/$b $fl -only $sc -json $out/$cond-$sc-$b-$i.json > $out/$cond-$sc-$b-$i.txt 2>&1
      done
    done
  done
done
echo done > $out/DONE
