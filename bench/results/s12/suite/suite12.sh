#!/bin/bash
out=/work/res/s12/suite
cd /tmp
/work/bin/bench-s12 -count 3 -json $out/suite-quiet.json > $out/suite-quiet.txt 2>$out/suite-quiet.err
/work/bin/bench-s12 -count 3 -stress -json $out/suite-stress.json > $out/suite-stress.txt 2>$out/suite-stress.err
/work/bin/bench-s12 -count 3 -procs 1 -json $out/suite-procs1.json > $out/suite-procs1.txt 2>$out/suite-procs1.err
echo done > $out/SUITE_DONE
