//go:build linux

package aio

import (
	"testing"

	"github.com/aioring/aioring/ring"
)

// The Splice and Shutdown tests skip, saying why, on a kernel whose
// io_uring probe lacks the opcode; the probes must skip then, and only
// then. The kernel's lack is played by emptying the engine's probe, as
// TestRegressRefusedOpUnpins does.
func TestNeedSpliceShutdownSkip(t *testing.T) {
	e := testEngine(t)
	skips := func(name string, need func(testing.TB, *Engine)) bool {
		var skipped bool
		t.Run(name, func(t *testing.T) {
			defer func() { skipped = t.Skipped() }()
			need(t, e)
		})
		return skipped
	}
	for _, n := range []struct {
		name string
		need func(testing.TB, *Engine)
	}{{"Splice", needSplice}, {"Shutdown", needShutdown}} {
		if skips(n.name+"-present", n.need) {
			t.Fatalf("%s's probe skipped on this engine (%s), which has it", n.name, e.Backend())
		}
		if e.Backend() != BackendIOURing {
			continue // the opcode probe is the ring's
		}
		saved := e.probe
		e.probe = ring.Probe{} // the kernel "lacks" every opcode now
		got := skips(n.name+"-missing", n.need)
		e.probe = saved
		if !got {
			t.Fatalf("%s's probe did not skip with the opcode missing", n.name)
		}
	}
}
