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

// Unmap does nothing off Linux.
func (br *BufRing) Unmap() {}

// Add does nothing off Linux, where no BufRing is ever made.
func (br *BufRing) Add(addr uint64, n uint32, bid uint16, pending int) {}

// Advance does nothing off Linux.
func (br *BufRing) Advance(n int) {}
