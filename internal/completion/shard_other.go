//go:build !linux

package completion

import (
	"errors"
	"runtime"

	"github.com/aioring/aioring/internal/op"
	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
)

// Shard is a placeholder off Linux.
type Shard struct{}

// Start reports that io_uring exists only on Linux.
func Start(Config) (*Shard, error) {
	return nil, errors.Join(errors.ErrUnsupported, errors.New("io_uring: not available on "+runtime.GOOS))
}

// Queue is never reached off Linux: Start fails.
func (s *Shard) Queue(Request) error { return ErrBroken }

// QueueTicket is never reached off Linux: Start fails.
func (s *Shard) QueueTicket(Request) (Ticket, error) { return 0, ErrBroken }

// SubmitThrough is never reached off Linux.
func (s *Shard) SubmitThrough(Ticket) {}

// QueueCancel is never reached off Linux.
func (s *Shard) QueueCancel(sqe.UserData) error { return ErrBroken }

// QueueCancelFD is never reached off Linux.
func (s *Shard) QueueCancelFD(int32) (Ticket, error) { return 0, ErrBroken }

// Push is never reached off Linux.
func (s *Shard) Push(int64) {}

// Try never carries anything out off Linux.
func (s *Shard) Try(*op.Desc) (op.Result, bool) { return op.Result{}, false }

// TryUnderLock: no tries off Linux.
func (s *Shard) TryUnderLock(*op.Desc) bool { return false }

// ReapInline is never reached off Linux.
func (s *Shard) ReapInline() int { return 0 }

// Handoff refuses off Linux.
func (s *Shard) Handoff(Callback) (ok, wake bool) { return false, false }

// HandoffHere is never reached off Linux.
func (s *Shard) HandoffHere(Callback) (ok, wake bool) { return false, false }

// DeviceDone does nothing off Linux.
func (s *Shard) DeviceDone() {}

// Wake does nothing off Linux.
func (s *Shard) Wake() {}

func (s *Shard) WokeWaiter() {}

// Broken reports false off Linux.
func (s *Shard) Broken() bool { return false }

// IsReaper reports false off Linux.
func (s *Shard) IsReaper(int64) bool { return false }

// Close does nothing off Linux.
func (s *Shard) Close() error { return nil }

// Probe reports no opcodes.
func (s *Shard) Probe() *ring.Probe { return &ring.Probe{} }

// Flags reports no flags.
func (s *Shard) Flags() ring.SetupFlags { return 0 }

// Features reports no features.
func (s *Shard) Features() ring.Features { return 0 }

// Stats reports zeros off Linux.
func (s *Shard) Stats() Stats { return Stats{} }

// Reapers reports none off Linux.
func (s *Shard) Reapers() int { return 0 }

// InjectEBADRForTest does nothing off Linux.
func InjectEBADRForTest(*Shard) {}

// RegisterBufRing is never reached off Linux.
func (s *Shard) RegisterBufRing(uint32, uint16) (*ring.BufRing, error) { return nil, ErrBroken }

// QueueOp is never reached off Linux: Start fails.
func (s *Shard) QueueOp(*op.Desc) error { return ErrBroken }
