package aio

// FixedVectorsForTest reports whether e's reads and writes of several
// buffers inside one registered buffer go out as READV_FIXED and
// WRITEV_FIXED (io_uring on Linux 6.15 or later, once a buffer exists).
func FixedVectorsForTest(e *Engine) bool {
	s := e.fixed.bufs.Load()
	return s != nil && s.vec
}
