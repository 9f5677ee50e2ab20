package ring

// Registered resources (fixed buffers and fixed files) with sparse
// tables whose slots are filled and cleared one at a time. Plain data, so
// the package builds everywhere; the calls are in rsrc_linux.go.

// io_uring_register opcodes of the resource tables.
const (
	registerFilesUpdate   = 6  // IORING_REGISTER_FILES_UPDATE (5.5): struct io_uring_files_update, nr = count of fds
	registerFiles2        = 13 // IORING_REGISTER_FILES2 (5.13): struct io_uring_rsrc_register, nr = its size
	registerBuffers2      = 15 // IORING_REGISTER_BUFFERS2 (5.13): struct io_uring_rsrc_register, nr = its size
	registerBuffersUpdate = 16 // IORING_REGISTER_BUFFERS_UPDATE (5.13): struct io_uring_rsrc_update2, nr = its size
)

// rsrcRegisterSparse is IORING_RSRC_REGISTER_SPARSE (5.19): a table of nr
// empty slots, without an array of empty entries.
const rsrcRegisterSparse = 1 << 0

// rsrcRegister is struct io_uring_rsrc_register (32 bytes).
type rsrcRegister struct {
	Nr    uint32 // nr
	Flags uint32 // flags (rsrcRegisterSparse)
	Resv2 uint64 // resv2
	Data  uint64 // data: struct iovec[nr] or __s32[nr], unless sparse
	Tags  uint64 // tags: __u64[nr] or 0
}

// rsrcUpdate is struct io_uring_rsrc_update, also struct
// io_uring_files_update (16 bytes).
type rsrcUpdate struct {
	Offset uint32 // offset: the first slot
	Resv   uint32 // resv
	Data   uint64 // data: __s32 fds[] for files
}

// rsrcUpdate2 is struct io_uring_rsrc_update2 (32 bytes).
type rsrcUpdate2 struct {
	Offset uint32 // offset: the first slot
	Resv   uint32 // resv
	Data   uint64 // data: struct iovec[nr] for buffers
	Tags   uint64 // tags: __u64[nr] or 0
	Nr     uint32 // nr
	Resv2  uint32 // resv2
}

// MaxFixedBuffer is the largest buffer the kernel registers: io_uring's
// io_buffer_validate refuses an iovec longer than SZ_1G with EFAULT.
const MaxFixedBuffer = 1 << 30

// MaxFixedBuffers is the most slots a buffer table may have
// (IORING_MAX_REG_BUFFERS).
const MaxFixedBuffers = 1 << 14
