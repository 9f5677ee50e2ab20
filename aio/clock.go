package aio

import (
	"time"

	"github.com/aioring/aioring/internal/op"
)

// monoClock converts Go times to CLOCK_MONOTONIC nanoseconds, the clock of
// the kernel's absolute timeouts (IORING_TIMEOUT_ABS). Go's monotonic
// readings come from the same clock on Linux but are not exposed, so the
// offset is measured once; the measurement's uncertainty is added, so a
// deadline converted here is never earlier than the true one.
type monoClock struct {
	base     time.Time // a Go time with a monotonic reading
	baseMono int64     // CLOCK_MONOTONIC ns, no earlier than base
}

func (c *monoClock) init() {
	c.base = time.Now()
	mono, ok := clockMonotonic()
	if !ok {
		// Not Linux or no clock: absolute timeouts are never used then.
		return
	}
	after := time.Now()
	// mono was read between base and after; assume the latest, so kernel
	// deadlines err late, never early.
	c.baseMono = mono + int64(after.Sub(c.base))
}

// at converts t to CLOCK_MONOTONIC nanoseconds. A time too far ahead for
// that (t.Sub saturates at 292 years) gives math.MaxInt64, a deadline that
// never comes, rather than wrapping into the past.
func (c *monoClock) at(t time.Time) int64 { return op.AddMono(c.baseMono, int64(t.Sub(c.base))) }

// now returns the current CLOCK_MONOTONIC estimate. time.Since of a time
// with a monotonic reading reads the monotonic clock alone; time.Now also
// reads the wall clock, a second vDSO call of no use here.
func (c *monoClock) now() int64 { return op.AddMono(c.baseMono, int64(time.Since(c.base))) }
