//go:build amd64 && !race

package release

// Store32 stores v at *p with release order (package comment): on amd64 a
// plain store, in a call the compiler does not inline.
//
//go:noinline
func Store32(p *uint32, v uint32) { *p = v }

// Store64 stores v at *p with release order, as Store32.
//
//go:noinline
func Store64(p *uint64, v uint64) { *p = v }

// StoreInt32 stores v at *p with release order, as Store32.
//
//go:noinline
func StoreInt32(p *int32, v int32) { *p = v }
