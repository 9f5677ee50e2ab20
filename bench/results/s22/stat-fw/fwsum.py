import json,sys,glob,re,statistics as st
rows={}
for f in sorted(glob.glob(sys.argv[1]+'/*.json')):
    m=re.match(r'.*/(\w+)-(-?\d+)-(\d+)\.json',f)
    cond,fw,r=m.groups()
    for x in json.load(open(f))['results']:
        rows.setdefault((cond,x['case'],x['impl'],fw),[]).append((x['ops_per_s'],x['threads'],x['cpu_s_per_mop']))
for k in sorted(rows):
    v=rows[k]; r=[a for a,_,_ in v]
    print(k, f"{st.median(r)/1e3:.0f}k [{min(r)/1e3:.0f}-{max(r)/1e3:.0f}] thr {[t for _,t,_ in v]} cpu {[round(c,2) for _,_,c in v]}")
