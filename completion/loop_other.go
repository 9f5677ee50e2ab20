//go:build !linux

package completion

import (
	"errors"
	"runtime"

	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
)

// Loop is a placeholder off Linux.
type Loop struct{}

// Start reports that io_uring exists only on Linux.
func Start(Config) (*Loop, error) {
	return nil, errors.Join(errors.ErrUnsupported, errors.New("io_uring: not available on "+runtime.GOOS))
}

// Submit is never reached off Linux: Start fails.
func (l *Loop) Submit(Request) {}

// Cancel is never reached off Linux.
func (l *Loop) Cancel(sqe.UserData) {}

// Close does nothing off Linux.
func (l *Loop) Close() error { return nil }

// Probe reports no opcodes.
func (l *Loop) Probe() *ring.Probe { return &ring.Probe{} }

// Flags reports no flags.
func (l *Loop) Flags() ring.SetupFlags { return 0 }

// Features reports no features.
func (l *Loop) Features() ring.Features { return 0 }

// Stats reports zeros off Linux.
func (l *Loop) Stats() Stats { return Stats{} }
