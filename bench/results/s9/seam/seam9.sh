#!/bin/bash
# seam9.sh: the engine before issue 16 (6922f9f, bench-pre16) against this
# session's engine (bench-h86cur), both under the bench harness of 86a41e9;
# the whole suite of that harness, alternated run by run, 3 runs each, in
# each of the three conditions.
out=/work/res/s9/seam
mkdir -p $out
cd /tmp
for cond in quiet stress procs1; do
  case $cond in quiet) cf="";; stress) cf="-stress";; procs1) cf="-procs 1";; esac
  for r in 1 2 3; do
    for b in pre16 h86cur; do
      echo "$(date +%T) start $cond $b $r"
      /work/bin/bench-$b $cf -json $out/seam-$cond-$b-$r.json > $out/seam-$cond-$b-$r.txt 2>&1
      echo "$(date +%T) end $cond $b $r rc=$?"
    done
  done
done
echo ALLDONE
