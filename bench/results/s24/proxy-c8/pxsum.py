import collections,statistics,sys
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    p,r,c=l.split(); d[p].append((float(r),float(c)))
for p,v in d.items():
    rs=sorted(x[0] for x in v); cs=sorted(x[1] for x in v)
    print(p, 'rate med %.0f [%.0f-%.0f]'%(statistics.median(rs),rs[0],rs[-1]), 'cpu ms/msg med %.3f [%.3f-%.3f]'%(statistics.median(cs),cs[0],cs[-1]))
