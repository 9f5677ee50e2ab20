#!/bin/bash
# ab_one.sh OUT A B COND SCEN: 3+3 alternated in one condition
out=$1; a=$2; b=$3; cond=$4; sc=$5
mkdir -p $out
case $cond in quiet) fl="";; stress) fl="-stress";; procs1) fl="-procs 1";; esac
for i in 1 2 3; do for x in $a $b; do /work/bin/$x $fl -only $sc -json $out/$cond-$sc-$x-$i.json > $out/$cond-$sc-$x-$i.txt 2>&1; done; done
