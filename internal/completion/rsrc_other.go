//go:build !linux

package completion

import "unsafe"

// RegisterBufferTable is never reached off Linux: Start fails.
func (s *Shard) RegisterBufferTable(uint32) error { return ErrBroken }

// UpdateBuffer is never reached off Linux.
func (s *Shard) UpdateBuffer(uint32, unsafe.Pointer, uint64) error { return ErrBroken }

// RegisterFileTable is never reached off Linux.
func (s *Shard) RegisterFileTable(uint32) error { return ErrBroken }

// UpdateFile is never reached off Linux.
func (s *Shard) UpdateFile(uint32, int32) error { return ErrBroken }
