//go:build !linux

package completion

import (
	"errors"
	"runtime"
	"time"

	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
)

// Request is one unit of work for the ring.
type Request interface {
	SQEs() int
	Prep(s []*sqe.SQE)
}

// Handler receives completions.
type Handler interface {
	Complete(c *ring.CQE) bool
	Flush()
}

// Config configures Start.
type Config struct {
	Entries, CQEntries uint32
	Flags              ring.SetupFlags
	Spin               time.Duration
	Handler            Handler
}

// Loop is a placeholder off Linux.
type Loop struct{}

// Start reports that io_uring exists only on Linux.
func Start(Config) (*Loop, error) {
	return nil, errors.Join(errors.ErrUnsupported, errors.New("io_uring: not available on "+runtime.GOOS))
}
