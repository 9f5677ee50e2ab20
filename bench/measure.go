package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Phases of a timed case. Workers run from the start; only operations that
// complete while the phase is phaseMeasure count, so warm-up and shutdown
// never leak into the figures. Workers stop starting new operations once
// they see phaseStop.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// phase is the phase of a timed case, and whether any operation has been
// counted in it yet.
type phase struct {
	atomic.Int32
	got atomic.Bool
}

// counted is called by a worker when it counts its first operation.
func (p *phase) counted() { p.got.Store(true) }

// maxWindow bounds how long a window waits beyond its length for the first
// operation to be counted.
const maxWindow = 10 * time.Second

// span is what a window measured: its wall time, the CPU time (user+system,
// the whole process) spent in it, and what the process (self) and, when
// there is one, its server (peer) did in it.
type span struct {
	wall, cpu, peerCPU time.Duration
	self               usage
	peer               *usage
}

// window runs the warm-up and the measurement window of a case whose workers
// are already running and watch ph. When peer is not 0 it also measures
// process peer (the server under a load generator).
//
// The window lasts at least d, and until some operation has been counted:
// on a busy machine a single operation can stall for longer than a tiny
// window, and a case with no operation has no figures at all.
func window(ph *phase, warmup, d time.Duration, peer int) (sp span, err error) {
	time.Sleep(warmup)
	var (
		p0 time.Duration
		q0 peerSample
	)
	if peer != 0 {
		if p0, err = procCPU(peer); err != nil {
			ph.Store(phaseStop)
			return span{}, fmt.Errorf("the server's CPU time: %w", err)
		}
		q0 = readPeer(peer)
	}
	u0 := selfUsage()
	c0 := cpuTime()
	t0 := time.Now()
	ph.Store(phaseMeasure)
	time.Sleep(d)
	for !ph.got.Load() && time.Since(t0) < maxWindow {
		time.Sleep(time.Millisecond)
	}
	ph.Store(phaseStop)
	sp.wall = time.Since(t0)
	sp.cpu = cpuTime() - c0
	sp.self = selfUsage().sub(u0)
	if peer != 0 {
		q1 := readPeer(peer)
		p1, err := procCPU(peer)
		if err != nil {
			return span{}, fmt.Errorf("the server's CPU time: %w", err)
		}
		sp.peerCPU = p1 - p0
		pu := q1.since(q0)
		sp.peer = &pu
	}
	return sp, nil
}

// cpuTime is the process's user plus system time so far (getrusage).
func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// threadSampler records the most OS threads the process had at once, read
// from /proc/self/stat every few milliseconds. io_uring's io-wq workers
// are threads of the process too, so they are counted.
type threadSampler struct {
	max  atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func startThreadSampler() *threadSampler {
	s := &threadSampler{stop: make(chan struct{}), done: make(chan struct{})}
	s.sample()
	go func() {
		defer close(s.done)
		// Go never gives an OS thread back, and io-wq workers linger for
		// seconds when idle, so a peak lasts: 20 ms sampling finds it.
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				s.sample()
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *threadSampler) sample() {
	if n := threadCount(); int64(n) > s.max.Load() {
		s.max.Store(int64(n))
	}
}

// finish stops sampling and returns the peak.
func (s *threadSampler) finish() int {
	close(s.stop)
	<-s.done
	return int(s.max.Load())
}

// threadCount reads num_threads from /proc/self/stat: the same figure as
// "Threads:" in /proc/self/status, at a quarter of the cost (status also
// gathers memory statistics), which matters at 50 reads a second inside a
// measurement.
func threadCount() int {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces; fields are
	// counted after it. num_threads is field 20, the 18th after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 18 {
		return 0
	}
	n, _ := strconv.Atoi(string(f[17]))
	return n
}

// rng is a small xorshift generator per worker: the workers must not share
// one, and math/rand's global source would add a lock to every operation.
type rng uint64

func newRNG(seed uint64) rng { return rng(seed*0x9E3779B97F4A7C15 | 1) }

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*r = rng(x)
	return x
}

// below returns a value in [0, n).
func (r *rng) below(n uint64) uint64 { return r.next() % n }

// closedLoop runs n goroutines, each calling the operation newOp(i) returns
// in a loop until the window ends, and turns what the measuring phase
// counted into a result. An operation reports its own latency, so it can
// leave setup and checks outside the timed part; an error ends the case.
// bytesPerOp feeds MB/s (0: none).
func closedLoop(s *spec, n int, newOp func(i int) func() (time.Duration, error), bytesPerOp int64) (*result, error) {
	var (
		ph phase
		wg sync.WaitGroup
	)
	ws := make([]*tally, n) // separate allocations: no false sharing of the counters
	ts := startThreadSampler()
	for i := range ws {
		w := &tally{}
		ws[i] = w
		op := newOp(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ph.Load() != phaseStop {
				d, err := op()
				if err != nil {
					w.err = err
					return
				}
				if ph.Load() == phaseMeasure {
					w.count(&ph, d)
				}
			}
		}()
	}
	sp, werr := window(&ph, s.Warmup, s.Window, s.ServerPID)
	wg.Wait()
	r := &result{Threads: ts.finish()}
	if werr != nil {
		return nil, werr
	}
	// With a server in another process, the whole run's CPU is both.
	if err := r.sum(ws, true, bytesPerOp, sp.wall, sp.cpu+sp.peerCPU); err != nil {
		return nil, err
	}
	r.setCounts(sp.self, sp.peer)
	if s.ServerPID != 0 {
		r.ServerCPUSeconds = sp.peerCPU.Seconds()
		if r.Ops > 0 {
			r.ServerCPUSPerMop = r.ServerCPUSeconds / float64(r.Ops) * 1e6
		}
	}
	return r, nil
}

// tally is what one load worker counted during the measuring phase, and the
// error that stopped it, if any.
type tally struct {
	n   uint64
	lat hist
	err error
}

// count records one operation of the measuring phase; a negative latency
// records none (for cases that do not time single operations).
func (t *tally) count(ph *phase, lat time.Duration) {
	t.n++
	if t.n == 1 {
		ph.counted()
	}
	if lat >= 0 {
		t.lat.record(lat)
	}
}

// sum adds the workers' tallies into r (the latency quantiles only when
// timed) and derives the rates; it returns the first worker's error.
func (r *result) sum(ts []*tally, timed bool, bytesPerOp int64, wall, cpu time.Duration) error {
	var all hist
	for _, t := range ts {
		if t.err != nil {
			return t.err
		}
		r.Ops += t.n
		all.merge(&t.lat)
	}
	r.derive(bytesPerOp, wall, cpu)
	if timed {
		r.P50us, r.P99us, r.MaxUs = all.quantile(0.50), all.quantile(0.99), all.maxUs()
	}
	return nil
}
