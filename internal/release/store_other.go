//go:build !amd64 || race

package release

import "sync/atomic"

// Store32 stores v at *p with (at least) release order: sync/atomic's
// store, sequentially consistent, off amd64 and under the race detector.
func Store32(p *uint32, v uint32) { atomic.StoreUint32(p, v) }

// Store64 stores v at *p with (at least) release order, as Store32.
func Store64(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

// StoreInt32 stores v at *p with (at least) release order, as Store32.
func StoreInt32(p *int32, v int32) { atomic.StoreInt32(p, v) }
