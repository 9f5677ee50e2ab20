#!/bin/bash
# alternate two builds, 3 runs each, -procs 1 only: ab7p1.sh OUT BASE NEW SCEN...
out=$1; base=$2; new=$3; shift 3
mkdir -p $out
for sc in "$@"; do
  for i in 1 2 3; do
    for b in $base $new; do
      /work/bin/$b -procs 1 -only $sc -json $out/procs1-$sc-$b-$i.json > $out/procs1-$sc-$b-$i.txt 2>&1
    done
  done
done
echo done > $out/DONE
