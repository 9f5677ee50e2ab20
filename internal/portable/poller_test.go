//go:build linux

package portable

import (
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// Two workers may harvest the poller at once: the seat holder parked in
// Park, and a worker the watchdog has just unseated finishing a round that
// looks again. Each ready descriptor must reach exactly one of them: a
// report is one-shot, so one lost is an operation that never ends.
func TestPollerConcurrentWaits(t *testing.T) {
	var pl poller
	epfd, err := pl.open()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(epfd)
	if err := pl.openWake(); err != nil {
		t.Fatal(err)
	}
	defer pl.closeWake()
	const n = 64
	var ends [n][2]int
	for i := range ends {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		ends[i] = [2]int{fds[0], fds[1]}
		defer unix.Close(fds[0])
		defer unix.Close(fds[1])
		unix.Write(fds[1], []byte{1}) // readable from now on
	}
	for round := range 2000 {
		for _, e := range ends {
			if errno := pl.arm(int32(e[0]), evRead); errno != 0 {
				t.Fatal(errno)
			}
		}
		var mu sync.Mutex
		seen := make(map[int32]int)
		total := 0
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				var raw rawEvents
				out := make([]pollEvent, 4)
				for empty := 0; empty < 1000; {
					got, _ := pl.wait(epfd, &raw, out)
					if got == 0 {
						mu.Lock()
						done := total >= n
						mu.Unlock()
						if done {
							return
						}
						empty++
						continue
					}
					mu.Lock()
					for _, ev := range out[:got] {
						seen[ev.fd]++
						total++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for _, e := range ends {
			if c := seen[int32(e[0])]; c != 1 {
				t.Fatalf("round %d: descriptor %d reported %d times, want 1 (%d reports for %d descriptors)",
					round, e[0], c, total, n)
			}
		}
	}
}
