//go:build ignore

package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

func run(name string, prezero bool, threads int, dur time.Duration) {
	p := "/work/fsx-test"
	os.Remove(p)
	fd, _ := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o600)
	defer unix.Close(fd)
	defer os.Remove(p)
	size := int64(2 << 30)
	if prezero {
		z := make([]byte, 1<<20)
		for off := int64(0); off < size; off += int64(len(z)) {
			unix.Pwrite(fd, z, off)
		}
		unix.Fsync(fd)
	}
	var mu sync.Mutex
	var off int64
	var n int64
	stop := time.Now().Add(dur)
	var wg sync.WaitGroup
	buf := make([]byte, 4096)
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				mu.Lock()
				o := off
				off += int64(len(buf))
				mu.Unlock()
				if o+int64(len(buf)) > size {
					return
				}
				unix.Pwrite(fd, buf, o)
				unix.Fdatasync(fd)
				mu.Lock()
				n++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("%s prezero=%v threads=%d: %.0f syncs/s\n", name, prezero, threads, float64(n)/dur.Seconds())
}

func main() {
	for _, pz := range []bool{false, true} {
		for _, th := range []int{1, 2, 4, 8, 16, 64} {
			run("x", pz, th, 2*time.Second)
		}
	}
}
