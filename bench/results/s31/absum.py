#!/usr/bin/env python3
# absum.py DIR B1 B2: per condition, scenario, case and impl: ops/s median [min-max] per build.
import sys, json, glob, os, re, statistics, collections
d = collections.defaultdict(list)
extra = collections.defaultdict(list)
dir_, builds = sys.argv[1], sys.argv[2:]
for f in glob.glob(os.path.join(dir_, '*.json')):
    m = re.match(r'(\w+)-([\w-]+)-(\w+)-(\d+)\.json', os.path.basename(f))
    if not m: continue
    cond, scen, b, r = m.groups()
    for row in json.load(open(f))['results']:
        if 'ops_per_s' not in row: continue
        k = (cond, row['scenario'], row['case'], row['impl'], b)
        d[k].append(row['ops_per_s'])
        extra[k].append((row.get('cpu_s_per_mop') or 0, row.get('threads') or 0, row.get('p99_us') or 0))
def fmt(v):
    return f"{v/1e3:.1f}k" if v < 1e6 else f"{v/1e6:.2f}M"
keys = sorted(set(k[:4] for k in d))
for k in keys:
    parts = []
    meds = []
    for b in builds:
        v = d.get(k + (b,))
        if not v: continue
        med = statistics.median(v); meds.append(med)
        ex = extra[k + (b,)]
        cpu = statistics.median(e[0] for e in ex); thr = max(e[1] for e in ex); p99 = statistics.median(e[2] for e in ex)
        parts.append(f"{b} {fmt(med)} [{fmt(min(v))}-{fmt(max(v))}] cpu {cpu:.2f} thr {thr} p99 {p99:.0f}")
    ch = f" ({(meds[-1]/meds[0]-1)*100:+.1f}%)" if len(meds) == 2 else ""
    print(f"{k[0]:6} {k[1]} {k[2]:10} {k[3]:16} " + " | ".join(parts) + ch)
