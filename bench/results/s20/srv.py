#!/usr/bin/env python3
# srv.py DIR [SCEN]: per (cond, case, impl, build) medians of ops/s, server CPU µs/op [runs], syscalls/op, ctxsw/op
import json,glob,statistics as st,collections,sys,os
d=collections.defaultdict(list)
scen=sys.argv[2] if len(sys.argv)>2 else None
for f in sorted(glob.glob(os.path.join(sys.argv[1],'*.json'))):
    b=os.path.basename(f)[:-5].split('-')
    cond,build=b[0],b[-2]
    for r in json.load(open(f))['results']:
        if scen and r['scenario']!=scen: continue
        d[(cond,r['scenario']+' '+r['case'],r['impl'],build)].append((r.get('ops_per_s',0),r.get('server_cpu_s_per_mop',0) or r.get('cpu_s_per_mop',0),r.get('syscalls_per_op',0),r.get('ctxsw_per_op',0)))
for k in sorted(d):
    v=d[k]
    print('%-7s %-28s %-9s %-7s ops %7.1fk  cpu %6.2f [%s]  sys %6.2f  csw %5.2f' % (k[0],k[1],k[2],k[3], st.median(x[0] for x in v)/1e3, st.median(x[1] for x in v), ' '.join('%.2f'%x[1] for x in v), st.median(x[2] for x in v), st.median(x[3] for x in v)))
