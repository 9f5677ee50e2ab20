#!/usr/bin/env python3
# targets_md.py SUITEDIR...: a markdown table of every target the bench checks,
# one cell per condition with each suite's result (ratio, or the miss), oldest first.
import sys,json,collections
conds=['quiet','stress','procs1']
rows=collections.OrderedDict(); tally=collections.Counter()
def short(r):
    if 'met' not in r: return '✘ failed'  # a run of the row failed (note)
    if r['met']: return '✔ %.2fx' % r.get('ratio',0) if 'p50' not in r['target'] and 'threads' not in r.get('missed_because','') else '✔'
    return '✘ ' + r.get('missed_because','').replace(' < ','<').replace(' > ','>')
for d in sys.argv[1:]:
  for c in conds:
    for r in json.load(open(f'{d}/log-{c}.json'))['results']:
      if not r.get('target'): continue
      k=(r['scenario']+' '+r['case'], r['impl'], r['target'])
      rows.setdefault(k,{})[(d,c)]=short(r)
      tally[(d,c,bool(r.get('met')))]+=1
print('| row | against | target | quiet | -stress | -procs 1 |')
print('|---|---|---|---|---|---|')
for k,v in rows.items():
  print('| %s | %s | %s | '%k + ' | '.join('<br>'.join(v.get((d,c),'-') for d in sys.argv[1:]) for c in conds)+' |')
print()
for d in sys.argv[1:]:
  print('%s: met %s' % (d, ', '.join('%d of %d %s'%(tally[(d,c,True)],tally[(d,c,True)]+tally[(d,c,False)],c) for c in conds)))
