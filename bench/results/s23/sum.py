#!/usr/bin/env python3
# sum.py DIR A B [IMPL] [REF]: medians [min-max] of ops/s per row and condition,
# build A against build B (files DIR/COND-SCEN-BUILD-I.json), for IMPL (default
# aioring) and the ratio to REF (default: each row's non-aioring impls).
import json, glob, sys, os, statistics as st, collections
d, A, B = sys.argv[1:4]
impl = sys.argv[4] if len(sys.argv) > 4 else 'aioring'
ref = sys.argv[5] if len(sys.argv) > 5 else None
rows = collections.defaultdict(list)  # (cond, scen, case, impl, build) -> [ops]
cpu = collections.defaultdict(list)
for f in glob.glob(os.path.join(d, '*.json')):
    base = os.path.basename(f)[:-5]
    cond = base.split('-')[0]
    build = None
    for b in (A, B):
        if ('-' + b + '-') in base:
            build = b
    if build is None:
        continue
    try:
        js = json.load(open(f))
    except Exception:
        continue
    for r in js['results']:
        k = (cond, r['scenario'], r['case'], r['impl'], build)
        v = r.get('ops_per_s') or r.get('mb_per_s') or 0
        rows[k].append(v)
        cpu[k].append(r.get('cpu_s_per_mop') or 0)
def fmt(x):
    return '%.1fk' % (x / 1e3) if x < 1e6 else '%.2fM' % (x / 1e6)
def ms(v):
    return '%s [%s-%s]' % (fmt(st.median(v)), fmt(min(v)), fmt(max(v)))
print('| row | condition | %s | %s | change | %s/%s | CPU/op |' % (A, B, B, ref or 'ref'))
print('|---|---|---|---|---|---|---|')
keys = sorted({(k[1], k[2], k[0]) for k in rows if k[3] == impl}, key=lambda x: (x[0], x[1], ['quiet', 'stress', 'procs1'].index(x[2])))
for sc, ca, co in keys:
    a, b = rows.get((co, sc, ca, impl, A)), rows.get((co, sc, ca, impl, B))
    if not a or not b:
        continue
    ch = st.median(b) / st.median(a) - 1
    mv = 'moved up' if min(b) > max(a) else 'moved down' if max(b) < min(a) else 'within'
    refs = []
    for (c2, s2, k2, i2, b2), v in rows.items():
        if c2 == co and s2 == sc and k2 == ca and b2 == B and i2 != impl and not i2.startswith('aioring') and (ref is None or i2 == ref):
            refs.append('%s %.2fx' % (i2, st.median(b) / st.median(v)))
    print('| %s %s | %s | %s | %s | %+.1f%% (%s) | %s | %.2f vs %.2f |' % (sc, ca, co, ms(a), ms(b), ch * 100, mv, ', '.join(sorted(refs)), st.median(cpu[(co, sc, ca, impl, A)]), st.median(cpu[(co, sc, ca, impl, B)])))
