package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/aioring/aioring/aio"
)

// Timers sleep for a random duration in [timerMin, timerMax).
const (
	timerMin = time.Millisecond
	timerMax = 50 * time.Millisecond
)

// timerRun is one implementation's rounds of s.Timers concurrent timers,
// repeated until the warm-up plus the window is used up (at least one
// round). Throughput is timers fired per second of round time, from the
// first start of a round to its last fire; lateness is the fire time minus
// the timer's deadline (start + d).
type timerRun struct {
	n        int
	base     time.Time
	deadline []int64 // ns since base
	late     []int64 // ns; -1 until fired
	wg       sync.WaitGroup
	early    int
}

func newTimerRun(n int) *timerRun {
	return &timerRun{n: n, base: time.Now(), deadline: make([]int64, n), late: make([]int64, n)}
}

// fired records timer i's lateness. Each timer writes only its own slot.
func (t *timerRun) fired(i int) {
	t.late[i] = int64(time.Since(t.base)) - t.deadline[i]
	t.wg.Done()
}

// run drives rounds with arm, which must start timer i for d and arrange
// for fired(i) to be called when it fires.
func (t *timerRun) run(s *spec, arm func(i int, d time.Duration)) *result {
	rnd := newRNG(7)
	var (
		all    hist
		ops    uint64
		wall   time.Duration
		cpu    time.Duration
		ts     = startThreadSampler()
		window = s.Warmup + s.Window
		first  = time.Now()
		use    = zeroUsage
	)
	for round := 0; round == 0 || time.Since(first) < window; round++ {
		u0, c0, t0 := selfUsage(), cpuTime(), time.Now()
		t.wg.Add(t.n)
		for i := range t.n {
			d := timerMin + time.Duration(rnd.below(uint64(timerMax-timerMin)))
			t.deadline[i] = int64(time.Since(t.base) + d)
			arm(i, d)
		}
		t.wg.Wait()
		wall += time.Since(t0)
		cpu += cpuTime() - c0
		use = use.add(selfUsage().sub(u0))
		ops += uint64(t.n)
		for _, l := range t.late {
			if l < 0 {
				t.early++
			}
			all.record(time.Duration(l))
		}
	}
	r := &result{Ops: ops, Threads: ts.finish()}
	r.derive(0, wall, cpu)
	r.setCounts(use, nil)
	r.P50us, r.P99us, r.MaxUs = all.quantile(0.50), all.quantile(0.99), all.maxUs()
	return r
}

// timersAio sleeps s.Timers aios at once with Sleep.
func timersAio(s *spec) (*result, error) {
	e, err := aio.NewEngine(engineConfig())
	if err != nil {
		return nil, err
	}
	defer e.Close()
	t := newTimerRun(s.Timers)
	aios := make([]*aio.Aio, s.Timers)
	var (
		mu   sync.Mutex
		ferr error
	)
	for i := range aios {
		aios[i] = e.NewAio(func(a *aio.Aio) {
			if err := a.Result(); err != nil {
				mu.Lock()
				ferr = err
				mu.Unlock()
			}
			t.fired(i)
		})
	}
	ls := watchLoop(e)
	r := t.run(s, func(i int, d time.Duration) { aios[i].Sleep(d) })
	r.Loop = ls.done()
	for _, a := range aios {
		a.Free()
	}
	if ferr != nil {
		return nil, ferr
	}
	if t.early > 0 {
		return nil, fmt.Errorf("%d timers fired before their deadline", t.early)
	}
	return r, nil
}

// timersAfterFunc is the same with time.AfterFunc.
func timersAfterFunc(s *spec) (*result, error) {
	t := newTimerRun(s.Timers)
	fns := make([]func(), s.Timers)
	for i := range fns {
		fns[i] = func() { t.fired(i) }
	}
	r := t.run(s, func(i int, d time.Duration) { time.AfterFunc(d, fns[i]) })
	if t.early > 0 {
		return nil, fmt.Errorf("%d timers fired before their deadline", t.early)
	}
	return r, nil
}
