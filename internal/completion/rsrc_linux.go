//go:build linux

package completion

import "unsafe"

// The ring's registered resources: the engine (package aio) keeps one
// slot numbering for all its rings and fills the same slot of each.
// io_uring_register may be called from any thread (the rings are not
// SINGLE_ISSUER) while other goroutines submit; it holds a life
// reference, so Close never unmaps under it.

// RegisterBufferTable registers n empty buffer slots (see
// ring.RegisterBufferTable).
func (s *Shard) RegisterBufferTable(n uint32) error {
	if !s.acquire() {
		return errShardClosed
	}
	defer s.release()
	return s.r.RegisterBufferTable(n)
}

// UpdateBuffer fills (or, with base nil, empties) buffer slot i (see
// ring.UpdateBuffer).
func (s *Shard) UpdateBuffer(i uint32, base unsafe.Pointer, n uint64) error {
	if !s.acquire() {
		return errShardClosed
	}
	defer s.release()
	return s.r.UpdateBuffer(i, base, n)
}

// RegisterFileTable registers n empty file slots (see
// ring.RegisterFileTable).
func (s *Shard) RegisterFileTable(n uint32) error {
	if !s.acquire() {
		return errShardClosed
	}
	defer s.release()
	return s.r.RegisterFileTable(n)
}

// UpdateFile puts fd in file slot i, or empties it with -1 (see
// ring.UpdateFile).
func (s *Shard) UpdateFile(i uint32, fd int32) error {
	if !s.acquire() {
		return errShardClosed
	}
	defer s.release()
	return s.r.UpdateFile(i, fd)
}
