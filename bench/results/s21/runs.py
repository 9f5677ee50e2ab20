#!/usr/bin/env python3
# runs.py DIR: every run's aioring ops/s (thousands) and system calls per op, by condition, case and build
import json,glob,sys,collections
d=sys.argv[1]
rows=collections.defaultdict(list)
for f in sorted(glob.glob(d+'/*.json')):
    b=f.split('/')[-1][:-5].split('-')
    cond=b[0]; build=b[-2]
    for r in json.load(open(f))['results']:
        if r['impl']=='aioring':
            rows[(cond,r['case'],build)].append((round(r['ops_per_s']/1000,1), round(r.get('syscalls_per_op') or 0,1)))
for k in sorted(rows): print(k, rows[k])
