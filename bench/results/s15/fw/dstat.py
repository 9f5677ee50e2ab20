import time,sys
def snap():
    for l in open('/proc/diskstats'):
        f=l.split()
        if f[2]=='vda': return int(f[3]),int(f[6]),int(f[13]),int(f[11]),time.time(),int(f[5])
p=snap()
while True:
    time.sleep(0.25)
    c=snap(); dt=c[4]-p[4]; dr=c[0]-p[0]
    if dr>100: print('%6.0f reads/s %6.0f MB/s %5.1f KiB/read avgq %5.1f lat %5.0f us'%(dr/dt,(c[5]-p[5])*512/dt/1e6,(c[5]-p[5])*512/1024/dr,(c[2]-p[2])/1000/dt,(c[1]-p[1])*1000/dr),flush=True)
    p=c
