#!/bin/bash
# alternate two builds, 3 runs each, quiet only: ab7q.sh OUT BASE NEW SCEN...
out=$1; base=$2; new=$3; shift 3
mkdir -p $out
for sc in "$@"; do
  for i in 1 2 3; do
    for b in $base $new; do
      /work/bin/$b -only $sc -json $out/quiet-$sc-$b-$i.json > $out/quiet-$sc-$b-$i.txt 2>&1
    done
  done
done
echo done > $out/DONE
