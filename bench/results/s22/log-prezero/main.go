//go:build ignore

// A group commit outside the engine (threads), on an appended file and on a
// pre-zeroed one, with k batches in flight acknowledged in log order: what
// the file system allows (docs/design.md, Known limits, the log). go run main.go

package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

const rec = 4096
const writers = 64

type req struct{ done chan struct{} }

// run: k batches in flight; each batch = pwrite at its offset + fdatasync; acks in log order.
func run(prezero bool, k int, dur time.Duration) float64 {
	p := "/work/gc-test"
	os.Remove(p)
	fd, _ := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o600)
	defer os.Remove(p)
	defer unix.Close(fd)
	size := int64(4 << 30)
	if prezero {
		z := make([]byte, 4<<20)
		for off := int64(0); off < size; off += int64(len(z)) {
			unix.Pwrite(fd, z, off)
		}
		unix.Fsync(fd)
	}
	reqs := make(chan *req, writers)
	stop := make(chan struct{})
	var n int64
	var nmu sync.Mutex
	// committer
	go func() {
		var off int64
		sem := make(chan struct{}, k)
		type batch struct {
			rs   []*req
			done chan struct{}
		}
		order := make(chan *batch, 1024)
		// acker in log order
		go func() {
			for b := range order {
				<-b.done
				for _, r := range b.rs {
					r.done <- struct{}{}
				}
				<-sem
			}
		}()
		buf := make([]byte, writers*rec)
		for {
			var rs []*req
			select {
			case r := <-reqs:
				rs = append(rs, r)
			case <-stop:
				close(order)
				return
			}
			sem <- struct{}{}
		more:
			for {
				select {
				case r := <-reqs:
					rs = append(rs, r)
				default:
					break more
				}
			}
			b := &batch{rs: rs, done: make(chan struct{})}
			o := off
			off += int64(len(rs) * rec)
			if off > size {
				off = 0
				o = 0
				off = int64(len(rs) * rec)
			}
			order <- b
			go func(o int64, l int) {
				unix.Pwrite(fd, buf[:l], o)
				unix.Fdatasync(fd)
				close(b.done)
			}(o, len(rs)*rec)
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
				nmu.Lock()
				n++
				nmu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	return float64(n) / dur.Seconds()
}

func main() {
	for rep := 0; rep < 2; rep++ {
		for _, pz := range []bool{false, true} {
			for _, k := range []int{1, 2, 4} {
				fmt.Printf("prezero=%v k=%d: %.1fk appends/s\n", pz, k, run(pz, k, 3*time.Second)/1e3)
			}
		}
	}
}
