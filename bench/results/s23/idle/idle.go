//go:build ignore

// idle: the engine's cost at rest. Threads of the process before the
// engine, after 100 000 Nop+Wait and 100 000 ReadAt+Wait of a cached block,
// and after it idles; CPU time of the process over the idle spell.
package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

func threads() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Threads:") {
			var n int
			fmt.Sscan(strings.TrimPrefix(l, "Threads:"), &n)
			return n
		}
	}
	return -1
}

func cpu() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	idle := 10 * time.Second
	time.Sleep(100 * time.Millisecond)
	t0 := threads()
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		panic(err)
	}
	f, err := os.CreateTemp("", "idle")
	if err != nil {
		panic(err)
	}
	defer os.Remove(f.Name())
	f.Write(make([]byte, 1<<20))
	buf := make([]byte, 4096)
	a := e.NewAio(nil)
	for i := range 100000 {
		a.Nop()
		a.Wait()
		a.SetIOV(buf)
		a.ReadAt(int(f.Fd()), int64(i%256)*4096)
		a.Wait()
		if err := a.Result(); err != nil {
			panic(err)
		}
	}
	t1 := threads()
	time.Sleep(time.Second) // let the busy poll and the reapers settle
	c0 := cpu()
	time.Sleep(idle)
	c1 := cpu()
	t2 := threads()
	fmt.Printf("threads: %d before the engine, %d after 200 000 operations, %d after %v idle\n", t0, t1, t2, idle)
	fmt.Printf("CPU while idle: %v in %v (%.3f ms per second)\n", c1-c0, idle, float64(c1-c0)/float64(time.Millisecond)/idle.Seconds())
	a.Free()
	e.Close()
}
