//go:build !linux

package aio

import (
	"testing"
	"time"
)

// Off Linux there is no /proc to see where an operation waits (kqueue has
// no fdinfo), so SubmitMark.Parked falls back to giving the backend 20 ms
// once the operation is busy: the tests only build there in CI; on Linux
// they wait for the event itself.
func markTail(testing.TB) uint64 { return 0 }

func (m SubmitMark) parkedNow(t testing.TB, e *Engine, a *Aio, fd int) bool {
	time.Sleep(20 * time.Millisecond)
	return true
}
