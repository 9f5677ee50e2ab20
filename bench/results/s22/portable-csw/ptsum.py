import json,sys
for f in sys.argv[1:]:
  for x in json.load(open(f))['results']:
    if x['case'] in ('c1 64B','c64 64B','c512 64B','c64 16KiB') and x['impl'] in ('aioring-portable','net'):
      print(f.split('/')[-1],x['case'],x['impl'],round(x['ops_per_s']/1e3,1),'srv',round(x.get('server_cpu_s_per_mop',0),2),'csw',round(x['ctxsw_per_op'],3),'load csw',round(x.get('load_ctxsw_per_op',0),3))
