#!/usr/bin/env python3
# table.py [MAIN] QUIET.json STRESS.json PROCS1.json: the suite table of docs/performance.md:
# MAIN's median [other aioring rows over MAIN; MAIN over each baseline]. MAIN is
# aioring unless given (aioring-portable for a -backend portable suite).
import json, sys
args = sys.argv[1:]
main = args.pop(0) if len(args) == 4 else 'aioring'
conds = [json.load(open(f))['results'] for f in args[:3]]
def val(r):
    return r.get('ops_per_s') or r.get('mb_per_s') or 0
order = []
for r in conds[0]:
    k = (r['scenario'], r['case'])
    if k not in order:
        order.append(k)
print('| row | quiet | -stress | -procs 1 |')
print('|---|---|---|---|')
for k in order:
    cells = []
    for rs in conds:
        rows = {r['impl']: r for r in rs if (r['scenario'], r['case']) == k}
        a = rows.get(main)
        if not a or not val(a):
            cells.append('-')
            continue
        parts = []
        for impl, r in rows.items():
            if impl == main or not val(r):
                continue
            ratio = val(r) / val(a) if impl.startswith('aioring') else val(a) / val(r)
            parts.append('%s %.2fx' % (impl, ratio))
        cells.append('%.3g [%s]' % (val(a), ', '.join(parts)))
    print('| %s %s | %s |' % (k[0], k[1], ' | '.join(cells)))
