package aio_test

import (
	"math"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
)

// Rule "Timeouts": a deadline 292 years or more ahead is a far deadline,
// not a past one. Such a time is further from the engine's clock base than
// a time.Duration reaches, so converting it must saturate instead of
// wrapping into the past (which ended these operations with ErrTimedOut at
// once). SetTimeout(math.MaxInt64) is the relative form of the same bound.
// Each operation is one no data will ever reach, so it must still be
// pending after farDeadlineQuiet and end with ErrCanceled when cancelled.
// Recv takes a linked timeout (IORING_TIMEOUT_ABS for an expiry, whose huge
// timespec the kernel must accept); ReadAt and RecvMsg take the engine's
// own timer; on the portable backend all three wait for readiness under the
// engine's deadline.
func TestFarDeadlineWaits(t *testing.T) {
	const farDeadlineQuiet = 200 * time.Millisecond
	deadlines := []struct {
		name string
		set  func(a *aio.Aio)
	}{
		{"expire-year-9999", func(a *aio.Aio) { a.SetExpire(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)) }},
		{"expire-now-plus-maxint64", func(a *aio.Aio) { a.SetExpire(time.Now().Add(math.MaxInt64)) }},
		{"timeout-maxint64", func(a *aio.Aio) { a.SetTimeout(math.MaxInt64) }},
	}
	e := newEngine(t, aio.Config{})
	restore := aio.SetMsgFallback(true)
	eFallback := newEngine(t, aio.Config{})
	restore()
	recvMsg := func(t *testing.T, a *aio.Aio) {
		x, _, _, _ := socketpair(t)
		a.RecvMsg(x)
	}
	ops := []struct {
		name     string
		fallback bool // on the engine whose RecvMsg is single-shot
		start    func(t *testing.T, a *aio.Aio)
	}{
		{"Recv", false, func(t *testing.T, a *aio.Aio) {
			x, _, _, _ := socketpair(t)
			a.SetIOV(make([]byte, 16))
			a.Recv(x)
		}},
		{"RecvMsg", false, recvMsg},
		{"RecvMsg-fallback", true, recvMsg},
		{"ReadAt-pipe", false, func(t *testing.T, a *aio.Aio) {
			r, _, _, _ := pipe(t)
			a.SetIOV(make([]byte, 16))
			a.ReadAt(r, -1)
		}},
	}
	type pending struct {
		name string
		a    *aio.Aio
		rec  *recorder
	}
	var all []pending
	// All start at once and share one quiet period, so the test takes
	// farDeadlineQuiet, not that times the number of cases.
	for _, op := range ops {
		for _, d := range deadlines {
			eng := e
			if op.fallback {
				eng = eFallback
			}
			rec := newRecorder()
			a := eng.NewAio(rec.cb)
			t.Cleanup(a.Free)
			d.set(a)
			op.start(t, a)
			all = append(all, pending{op.name + "/" + d.name, a, rec})
		}
	}
	// The quiet period is what the rule is about: nothing may end these
	// operations before they are cancelled.
	time.Sleep(farDeadlineQuiet)
	for _, p := range all {
		if p.rec.n.Load() != 0 {
			c := p.rec.next(t)
			t.Errorf("%s: completed within %v with %v, count %d; want it pending", p.name, farDeadlineQuiet, c.err, c.count)
			continue
		}
		p.a.Cancel()
		if c := p.rec.next(t); c.err != aio.ErrCanceled {
			t.Errorf("%s: Cancel ended it with %v; want ErrCanceled", p.name, c.err)
		}
	}
}
