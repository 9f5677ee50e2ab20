//go:build linux

package completion

import "github.com/aioring/aioring/ring"

// RegisterBufRing registers a provided-buffer ring of entries descriptors
// as buffer group group on the shard's ring (see ring.RegisterBufRing).
// The caller owns the result: it adds and publishes buffers under its own
// lock, and unmaps it (BufRing.Unmap) after Close, which unregisters it
// with the ring.
func (s *Shard) RegisterBufRing(entries uint32, group uint16) (*ring.BufRing, error) {
	if !s.acquire() {
		return nil, errShardClosed
	}
	defer s.release()
	s.sqMu.Lock()
	closed := s.closed
	s.sqMu.Unlock()
	if closed {
		return nil, errShardClosed
	}
	return s.r.RegisterBufRing(entries, group)
}
