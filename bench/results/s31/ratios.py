#!/usr/bin/env python3
# ratios.py DIR SCEN IMPL BASE B1 B2: per condition and case, IMPL's ops/s over
# BASE's (an implementation the builds do not change) in the same run,
# median [min-max] per build.
import sys, json, glob, os, re, statistics, collections
d, scen, impl, base = sys.argv[1:5]
builds = sys.argv[5:]
r = collections.defaultdict(list)
for f in glob.glob(os.path.join(d, '*-%s-*.json' % scen)):
    m = re.match(r'(\w+)-%s-(\w+)-(\d+)\.json' % re.escape(scen), os.path.basename(f))
    if not m: continue
    cond, b, _ = m.groups()
    rows = {(x['case'], x['impl']): x['ops_per_s'] for x in json.load(open(f))['results'] if 'ops_per_s' in x}
    for (c, i), v in rows.items():
        if i == impl and (c, base) in rows:
            r[(cond, c, b)].append(v / rows[(c, base)])
for cond, c in sorted(set(k[:2] for k in r)):
    parts = []
    for b in builds:
        v = r.get((cond, c, b))
        if v: parts.append('%s %.2f [%.2f-%.2f]' % (b, statistics.median(v), min(v), max(v)))
    print('%-6s %-11s %s' % (cond, c, ' | '.join(parts)))
