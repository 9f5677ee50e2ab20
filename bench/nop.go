package main

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/aioring/aioring/aio"
	"github.com/aioring/aioring/ring"
)

// nopAio keeps s.Depth aios busy, each restarting Nop from its own callback:
// the cost of one round trip through the engine with nothing else to do.
// At depth 1 the round trip time is recorded too; deeper, it is only
// queueing.
func nopAio(s *spec) (*result, error) {
	e, err := aio.NewEngine(engineConfig())
	if err != nil {
		return nil, err
	}
	defer e.Close()
	type worker struct {
		tally
		a     *aio.Aio
		start time.Time
	}
	var (
		ph phase
		wg sync.WaitGroup
	)
	timed := s.Depth == 1
	ws := make([]*worker, s.Depth)
	for i := range ws {
		w := &worker{}
		ws[i] = w
		w.a = e.NewAio(func(a *aio.Aio) {
			if err := a.Result(); err != nil {
				w.err = err
				wg.Done()
				return
			}
			switch ph.Load() {
			case phaseMeasure:
				lat := time.Duration(-1)
				if timed {
					lat = time.Since(w.start)
				}
				w.count(&ph, lat)
			case phaseStop:
				wg.Done()
				return
			}
			if timed {
				w.start = time.Now()
			}
			a.Nop()
		})
	}
	ls := watchLoop(e)
	ts := startThreadSampler()
	wg.Add(len(ws))
	for _, w := range ws {
		w.start = time.Now()
		w.a.Nop()
	}
	sp, _ := window(&ph, s.Warmup, s.Window, 0)
	wg.Wait()
	r := &result{Threads: ts.finish(), Loop: ls.done()}
	tallies := make([]*tally, len(ws))
	for i, w := range ws {
		tallies[i] = &w.tally
		w.a.Free()
	}
	if err := r.sum(tallies, timed, 0, sp.wall, sp.cpu); err != nil {
		return nil, err
	}
	r.setCounts(sp.self, nil)
	return r, nil
}

// rawRingFlags are the setup flags of the raw ring baseline: the fastest
// single-threaded configuration the kernel offers.
const rawRingFlags = ring.SetupSingleIssuer | ring.SetupDeferTaskrun | ring.SetupCoopTaskrun |
	ring.SetupTaskrunFlag | ring.SetupSubmitAll | ring.SetupNoSQArray

// nopRawRing drives the ring package directly from one locked OS thread,
// keeping s.Depth NOPs in flight and submitting them in batches: the upper
// bound for NOP round trips from Go on this machine.
func nopRawRing(s *spec) (*result, error) {
	var (
		ph   phase
		n    uint64
		lat  hist
		rerr error
		done = make(chan struct{})
	)
	ts := startThreadSampler()
	started := make(chan error, 1)
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		r, err := ring.New(ring.Options{Entries: uint32(max(s.Depth, 32)), Flags: rawRingFlags})
		started <- err
		if err != nil {
			return
		}
		defer r.Close()
		cqes := make([]ring.CQE, 2*max(s.Depth, 32))
		inflight := 0
		timed := s.Depth == 1
		var t0 time.Time
		for p := ph.Load(); p != phaseStop; p = ph.Load() {
			if timed {
				t0 = time.Now()
			}
			for inflight < s.Depth {
				q := r.GetSQE()
				if q == nil {
					break
				}
				q.Nop()
				q.UserData = 1
				inflight++
			}
			if _, err := r.SubmitAndWait(uint32(min(inflight, 32))); err != nil {
				rerr = err
				return
			}
			got := r.PeekCQEs(cqes)
			for _, c := range cqes[:got] {
				if c.Res < 0 {
					rerr = fmt.Errorf("NOP completed with %d", c.Res)
					return
				}
			}
			inflight -= got
			if p == phaseMeasure && got > 0 {
				n += uint64(got)
				ph.counted()
				if timed {
					lat.record(time.Since(t0))
				}
			}
		}
		// Reap what is still in flight before the ring closes.
		for inflight > 0 {
			if _, err := r.SubmitAndWait(1); err != nil {
				rerr = err
				return
			}
			inflight -= r.PeekCQEs(cqes)
		}
	}()
	if err := <-started; err != nil {
		<-done
		if errors.Is(err, errors.ErrUnsupported) {
			return nil, fmt.Errorf("io_uring unavailable: %w", err)
		}
		return nil, err
	}
	sp, _ := window(&ph, s.Warmup, s.Window, 0)
	<-done
	if rerr != nil {
		return nil, rerr
	}
	r := &result{Ops: n, Threads: ts.finish()}
	r.derive(0, sp.wall, sp.cpu)
	r.setCounts(sp.self, nil)
	if s.Depth == 1 {
		r.P50us, r.P99us, r.MaxUs = lat.quantile(0.50), lat.quantile(0.99), lat.maxUs()
	}
	return r, nil
}
