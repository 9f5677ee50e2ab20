#!/usr/bin/env python3
# impl.py DIR SCEN "B1 B2" [IMPL] [CONDS]: per condition and build, median [min-max] of ops/s, cpu/op, p50, p99 for IMPL (aioring)
import json,glob,statistics as st,sys
d,sc,builds=sys.argv[1],sys.argv[2],sys.argv[3].split()
impl=sys.argv[4] if len(sys.argv)>4 else 'aioring'
conds=(sys.argv[5] if len(sys.argv)>5 else 'quiet stress procs1').split()
for cond in conds:
  rows={}
  for b in builds:
    for f in sorted(glob.glob(f'{d}/{cond}-{sc}-{b}-*.json')):
      for r in json.load(open(f))['results']:
        if r['impl']!=impl: continue
        rows.setdefault((r['case'],b),[]).append(r)
  for (case,b),rs in sorted(rows.items()):
    o=[r['ops_per_s'] for r in rs]; c=[r['cpu_s_per_mop'] for r in rs]
    print(f"{cond:7} {case:12} {b:5} n={len(o)} ops {st.median(o)/1e3:8.1f}k [{min(o)/1e3:.1f}-{max(o)/1e3:.1f}] cpu {st.median(c):.3f} [{min(c):.3f}-{max(c):.3f}] p50 {st.median([r['p50_us'] for r in rs]):.0f} p99 {st.median([r['p99_us'] for r in rs]):.0f}")
