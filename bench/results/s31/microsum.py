#!/usr/bin/env python3
# microsum.py OUT: medians [min-max] of ns/op per condition, build, benchmark.
import sys, re, statistics, collections
d = collections.defaultdict(list)
cond = build = None
for line in open(sys.argv[1]):
    m = re.match(r'=== cond=(\S+) run=(\d+) build=(\S+)', line)
    if m: cond, build = m.group(1), m.group(3); continue
    m = re.match(r'(Benchmark\S+?)(-\d+)?\s+\d+\s+([\d.]+) ns/op', line)
    if m: d[(cond, m.group(1), build)].append(float(m.group(3)))
builds = []
for (c, n, b) in d:
    if b not in builds: builds.append(b)
names = sorted(set(n for (_, n, _) in d))
for c in ['quiet', 'stress', 'procs1']:
    for n in names:
        row = []
        meds = []
        for b in builds:
            v = d.get((c, n, b))
            if not v: continue
            med = statistics.median(v); meds.append(med)
            row.append(f"{b} {med:.1f} [{min(v):.1f}-{max(v):.1f}] n={len(v)}")
        ch = f" ({(meds[-1]/meds[0]-1)*100:+.1f}%)" if len(meds) >= 2 else ""
        print(f"{c:7} {n:40} " + " | ".join(row) + ch)
