//go:build linux

package ring

import (
	"errors"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The sparse resource tables: a table of empty slots is registered once,
// and single slots are then filled and cleared without touching the
// others (IORING_REGISTER_BUFFERS_UPDATE, IORING_REGISTER_FILES_UPDATE),
// so buffers and descriptors come and go while operations use other
// slots. Every argument the kernel reads through a pointer is pinned on
// the heap for the call: a stack copy could move between the conversion
// of its address and the system call.

// ErrNoSparseTables reports a kernel without IORING_REGISTER_BUFFERS2
// (Linux 5.13), so without a buffer table whose slots can be updated one
// at a time.
var ErrNoSparseTables = errors.New("io_uring: the kernel has no updatable registered-buffer table (IORING_REGISTER_BUFFERS2 needs Linux 5.13)")

// RegisterBufferTable registers a buffer table of n empty slots
// (IORING_REGISTER_BUFFERS2 with IORING_RSRC_REGISTER_SPARSE, 5.19; on
// 5.13-5.18, which lack the flag, with n empty iovecs). A kernel without
// BUFFERS2 gives ErrNoSparseTables joined with its errno.
func (r *Ring) RegisterBufferTable(n uint32) error {
	var p runtime.Pinner
	defer p.Unpin()
	arg := &rsrcRegister{Nr: n, Flags: rsrcRegisterSparse}
	p.Pin(arg)
	_, err := r.register(registerBuffers2, unsafe.Pointer(arg), unsafe.Sizeof(*arg))
	if err != syscall.EINVAL {
		return err
	}
	// Before 5.19: the same table spelled as n empty iovecs, which the
	// kernel takes as empty slots (io_buffer_validate accepts a NULL base
	// of length 0).
	iov := make([]unix.Iovec, n)
	p.Pin(&iov[0])
	*arg = rsrcRegister{Nr: n, Data: uint64(uintptr(unsafe.Pointer(&iov[0])))}
	_, err = r.register(registerBuffers2, unsafe.Pointer(arg), unsafe.Sizeof(*arg))
	if err == syscall.EINVAL {
		return errors.Join(ErrNoSparseTables, err)
	}
	return err
}

// UpdateBuffer puts the memory [base, base+n) in slot i of the buffer
// table (IORING_REGISTER_BUFFERS_UPDATE); base nil and n 0 empty the slot.
// The kernel pins the pages (charged to RLIMIT_MEMLOCK unless the process
// has CAP_IPC_LOCK: ENOMEM beyond it) and keeps them until the slot is
// emptied, or the ring closed, and every request that used them has
// ended. The memory must be anonymous (or shmem) and at most
// MaxFixedBuffer long.
func (r *Ring) UpdateBuffer(i uint32, base unsafe.Pointer, n uint64) error {
	var p runtime.Pinner
	defer p.Unpin()
	iov := &unix.Iovec{Base: (*byte)(base)}
	iov.SetLen(int(n)) // Len is 32 bits wide on 32-bit targets
	arg := &rsrcUpdate2{Offset: i, Data: uint64(uintptr(unsafe.Pointer(iov))), Nr: 1}
	p.Pin(iov)
	p.Pin(arg)
	_, err := r.register(registerBuffersUpdate, unsafe.Pointer(arg), unsafe.Sizeof(*arg))
	return err
}

// RegisterFileTable registers a file table of n empty slots
// (IORING_REGISTER_FILES2 with IORING_RSRC_REGISTER_SPARSE, 5.19; before
// that, IORING_REGISTER_FILES with n entries of -1). n may not exceed
// RLIMIT_NOFILE (EMFILE).
func (r *Ring) RegisterFileTable(n uint32) error {
	var p runtime.Pinner
	defer p.Unpin()
	arg := &rsrcRegister{Nr: n, Flags: rsrcRegisterSparse}
	p.Pin(arg)
	_, err := r.register(registerFiles2, unsafe.Pointer(arg), unsafe.Sizeof(*arg))
	if err != syscall.EINVAL {
		return err
	}
	fds := make([]int32, n)
	for i := range fds {
		fds[i] = -1
	}
	return r.RegisterFiles(fds)
}

// UpdateFile puts descriptor fd in slot i of the file table
// (IORING_REGISTER_FILES_UPDATE); -1 empties the slot. The table holds its
// own reference to the file: closing fd afterwards does not close the
// file while it is in the table. Requests already issued on the slot keep
// the file they took.
func (r *Ring) UpdateFile(i uint32, fd int32) error {
	var p runtime.Pinner
	defer p.Unpin()
	v := new(int32)
	*v = fd
	p.Pin(v)
	arg := &rsrcUpdate{Offset: i, Data: uint64(uintptr(unsafe.Pointer(v)))}
	p.Pin(arg)
	_, err := r.register(registerFilesUpdate, unsafe.Pointer(arg), 1)
	return err
}
