package aio

import (
	"math"
	"time"

	"golang.org/x/sys/unix"
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
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		// Not Linux or no clock: absolute timeouts are never used then.
		return
	}
	after := time.Now()
	// ts was read between base and after; assume the latest, so kernel
	// deadlines err late, never early.
	c.baseMono = ts.Nano() + int64(after.Sub(c.base))
}

// at converts t to CLOCK_MONOTONIC nanoseconds. A time too far ahead for
// that (t.Sub saturates at 292 years) gives math.MaxInt64, a deadline that
// never comes, rather than wrapping into the past.
func (c *monoClock) at(t time.Time) int64 { return addMono(c.baseMono, int64(t.Sub(c.base))) }

// addMono returns the clock reading ns after mono (>= 0), saturated at
// math.MaxInt64: a far deadline stays far. Every deadline made by adding a
// span to a reading goes through it.
//
// The saturated value is a valid deadline everywhere it goes: subtracting
// a reading from it cannot overflow (readings are >= 0), a runtime timer
// clamps its own end, and as an IORING_TIMEOUT_ABS timespec it is
// {tv_sec 9223372036, tv_nsec 854775807}: the kernel's timeout prep only
// refuses negative fields, and timespec64_to_ktime (ktime_set) turns
// tv_sec >= KTIME_SEC_MAX into KTIME_MAX, an hrtimer that never fires.
func addMono(mono, ns int64) int64 {
	if ns > math.MaxInt64-mono {
		return math.MaxInt64
	}
	return mono + ns
}

// now returns the current CLOCK_MONOTONIC estimate.
func (c *monoClock) now() int64 { return c.at(time.Now()) }
