//go:build !linux

package ring

import (
	"errors"
	"runtime"
)

// Ring is a placeholder off Linux; New always fails.
type Ring struct{}

// Options configure New.
type Options struct {
	Entries   uint32
	CQEntries uint32
	Flags     SetupFlags
}

// New reports that io_uring exists only on Linux.
func New(Options) (*Ring, error) {
	return nil, errors.Join(errors.ErrUnsupported, errors.New("io_uring: not available on "+runtime.GOOS))
}

// Close does nothing.
func (r *Ring) Close() error { return nil }
