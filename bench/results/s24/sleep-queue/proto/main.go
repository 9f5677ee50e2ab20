//go:build ignore

// Scratch prototype of decision 79: 100 000 timers of 1-50 ms as
// time.AfterFunc each, or in one heap under one AfterFunc whose fire runs
// every due function in turn. go run main.go [-q] (GOMAXPROCS=1 too).

package main

import (
	"container/heap"
	"flag"
	"fmt"
	"math/rand"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"time"
)

type ent struct {
	when int64
	f    func()
}
type h []ent

func (x h) Len() int           { return len(x) }
func (x h) Less(i, j int) bool { return x[i].when < x[j].when }
func (x h) Swap(i, j int)      { x[i], x[j] = x[j], x[i] }
func (x *h) Push(v any)        { *x = append(*x, v.(ent)) }
func (x *h) Pop() any          { o := *x; v := o[len(o)-1]; *x = o[:len(o)-1]; return v }

type q struct {
	mu   sync.Mutex
	h    h
	t    *time.Timer
	at   int64
	base time.Time
}

func (q *q) now() int64 { return int64(time.Since(q.base)) }

func (q *q) add(d time.Duration, f func()) {
	w := q.now() + int64(d)
	q.mu.Lock()
	heap.Push(&q.h, ent{w, f})
	if q.at == 0 || w < q.at {
		q.at = w
		q.t.Reset(time.Duration(w - q.now()))
	}
	q.mu.Unlock()
}

func (q *q) fire() {
	var batch []func()
	q.mu.Lock()
	now := q.now()
	for len(q.h) > 0 && q.h[0].when <= now {
		batch = append(batch, heap.Pop(&q.h).(ent).f)
	}
	q.at = 0
	if len(q.h) > 0 {
		q.at = q.h[0].when
		q.t.Reset(time.Duration(q.at - now))
	}
	q.mu.Unlock()
	for _, f := range batch {
		f()
	}
}

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(0, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func round(n int, useQ bool) (rate float64, cpuPer time.Duration, p50, p99 time.Duration) {
	base := time.Now()
	var Q *q
	if useQ {
		Q = &q{base: base}
		Q.t = time.AfterFunc(time.Hour, Q.fire)
	}
	late := make([]int64, n)
	dl := make([]int64, n)
	var wg sync.WaitGroup
	wg.Add(n)
	c0, t0 := cpu(), time.Now()
	for i := 0; i < n; i++ {
		d := time.Millisecond + time.Duration(rand.Int63n(int64(49*time.Millisecond)))
		dl[i] = int64(time.Since(base) + d)
		i := i
		f := func() { late[i] = int64(time.Since(base)) - dl[i]; wg.Done() }
		if useQ {
			Q.add(d, f)
		} else {
			time.AfterFunc(d, f)
		}
	}
	wg.Wait()
	wall := time.Since(t0)
	c := cpu() - c0
	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
	return float64(n) / wall.Seconds(), c / time.Duration(n), time.Duration(late[n/2]), time.Duration(late[n*99/100])
}

func main() {
	useQ := flag.Bool("q", false, "")
	flag.Parse()
	for r := 0; r < 6; r++ {
		rate, c, p50, p99 := round(100000, *useQ)
		if r > 0 {
			fmt.Printf("q=%v procs=%d %.0fk/s cpu %.2fus p50 %v p99 %v\n", *useQ, runtime.GOMAXPROCS(0), rate/1e3, float64(c)/1e3, p50.Round(time.Microsecond), p99.Round(time.Microsecond))
		}
	}
}
