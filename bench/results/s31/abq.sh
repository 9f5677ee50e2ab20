#!/bin/bash
# abq.sh OUT "B1 B2" "quiet stress procs1" SCEN...: /work/bin/bB -only SCEN, the
# builds alternated run by run, RUNS (3) each, per condition; JSON per run in OUT.
out=$1; builds=$2; conds=$3; shift 3
mkdir -p $out
for cond in $conds; do
  flag=""
  [ $cond = stress ] && flag="-stress"
  [ $cond = procs1 ] && flag="-procs 1"
  for scen in "$@"; do
    for r in $(seq 1 ${RUNS:-3}); do
      for b in $builds; do
        (cd /tmp && /work/bin/b$b -only $scen $flag -json $out/$cond-$scen-$b-$r.json > $out/$cond-$scen-$b-$r.txt 2>&1)
      done
    done
  done
done
echo DONE > $out/DONE
