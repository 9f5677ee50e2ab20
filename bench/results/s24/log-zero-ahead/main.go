//go:build ignore

// A group commit in plain Go (64 writers of 4 KiB records, one batch in
// flight: pwrite + fdatasync), appending, on a file zeroed in advance, and
// with a goroutine that keeps zeros written and synced ahead of the log's
// tail during the window (through the page cache, or O_DIRECT on a second
// descriptor). go run main.go -dir DIR (twenty-third session).

package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"unsafe"
)

const rec = 4096
const writers = 64

type req struct{ done chan struct{} }

// run: one batch in flight: pwrite + fdatasync, the usual group commit.
// ahead > 0: a zeroer keeps the file written with zeros (and synced) up to
// ahead bytes past the log's tail, in chunks of chunk bytes, during the window.
func run(dir string, ahead, chunk int64, direct bool, dur time.Duration) (float64, int) {
	p := dir + "/gc-test"
	os.Remove(p)
	fd, _ := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o600)
	defer os.Remove(p)
	defer unix.Close(fd)
	var zeroed atomic.Int64 // durable zeros below this offset
	var tail atomic.Int64
	stop := make(chan struct{})
	waits := 0
	zcond := sync.NewCond(&sync.Mutex{})
	if ahead < 0 {
		// zeroed in advance, outside the window: the reference
		z := make([]byte, 4<<20)
		for off := int64(0); off < -ahead; off += int64(len(z)) {
			unix.Pwrite(fd, z, off)
		}
		unix.Fsync(fd)
		zeroed.Store(-ahead)
	}
	if ahead > 0 {
		zfd := fd
		if direct {
			zfd, _ = unix.Open(p, unix.O_RDWR|unix.O_DIRECT, 0)
			defer unix.Close(zfd)
		}
		go func() {
			zb := make([]byte, chunk+4096)
			o := int(4096 - uintptr(unsafe.Pointer(&zb[0]))%4096)
			z := zb[o : o+int(chunk)]
			var off int64
			for {
				select {
				case <-stop:
					return
				default:
				}
				if off-tail.Load() >= ahead {
					time.Sleep(50 * time.Microsecond)
					continue
				}
				if _, err := unix.Pwrite(zfd, z, off); err != nil {
					panic(err)
				}
				unix.Fdatasync(zfd)
				off += chunk
				zcond.L.Lock()
				zeroed.Store(off)
				zcond.Broadcast()
				zcond.L.Unlock()
			}
		}()
	}
	reqs := make(chan *req, writers)
	var n atomic.Int64
	go func() {
		var off int64
		buf := make([]byte, writers*rec)
		for {
			var rs []*req
			select {
			case r := <-reqs:
				rs = append(rs, r)
			case <-stop:
				return
			}
		more:
			for {
				select {
				case r := <-reqs:
					rs = append(rs, r)
				default:
					break more
				}
			}
			l := int64(len(rs) * rec)
			if ahead != 0 && off+l > zeroed.Load() {
				waits++
				zcond.L.Lock()
				for off+l > zeroed.Load() {
					zcond.Wait()
				}
				zcond.L.Unlock()
			}
			unix.Pwrite(fd, buf[:l], off)
			unix.Fdatasync(fd)
			off += l
			tail.Store(off)
			for _, r := range rs {
				r.done <- struct{}{}
			}
		}
	}()
	end := time.Now().Add(dur)
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &req{done: make(chan struct{}, 1)}
			for time.Now().Before(end) {
				reqs <- r
				<-r.done
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	return float64(n.Load()) / dur.Seconds(), waits
}

func main() {
	dir := flag.String("dir", "/tmp", "")
	flag.Parse()
	for rep := 0; rep < 3; rep++ {
		for _, c := range []struct {
			ahead, chunk int64
			direct       bool
		}{{0, 0, false}, {-(2 << 30), 0, false}, {16 << 20, 1 << 20, false}, {16 << 20, 1 << 20, true}, {64 << 20, 4 << 20, true}} {
			r, w := run(*dir, c.ahead, c.chunk, c.direct, 3*time.Second)
			fmt.Printf("pass %d direct=%v ahead=%dM chunk=%dM: %.1fk appends/s (tail waits %d)\n", rep+1, c.direct, c.ahead>>20, c.chunk>>20, r/1e3, w)
		}
	}
}
