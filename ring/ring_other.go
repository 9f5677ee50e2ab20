//go:build !linux

package ring

import (
	"errors"
	"runtime"
)

// Ring is a placeholder off Linux; New always fails.
type Ring struct{}

// New reports that io_uring exists only on Linux.
func New(Options) (*Ring, error) {
	return nil, errors.Join(errors.ErrUnsupported, errors.New("io_uring: not available on "+runtime.GOOS))
}

// Close does nothing.
func (r *Ring) Close() error { return nil }

// KernelAtLeast reports false off Linux.
func KernelAtLeast(major, minor int) bool { return false }

// BufRing is a placeholder off Linux.
type BufRing struct{}
