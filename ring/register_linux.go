//go:build linux

package ring

import (
	"syscall"
	"unsafe"

	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

func (r *Ring) register(op uintptr, arg unsafe.Pointer, n uintptr) (int, error) {
	for {
		res, _, errno := syscall.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), op, uintptr(arg), n, 0, 0)
		switch errno {
		case 0:
			return int(res), nil
		case syscall.EINTR:
			continue
		default:
			return 0, errno
		}
	}
}

// RegisterFiles installs a fixed file table; SQEs with sqe.FixedFile then
// name files by index. -1 leaves a slot empty.
func (r *Ring) RegisterFiles(fds []int32) error {
	if len(fds) == 0 {
		return syscall.EINVAL
	}
	_, err := r.register(registerFiles, unsafe.Pointer(&fds[0]), uintptr(len(fds)))
	return err
}

// UnregisterFiles removes the fixed file table.
func (r *Ring) UnregisterFiles() error {
	_, err := r.register(unregisterFiles, nil, 0)
	return err
}

// RegisterBuffers pins bufs in the kernel for READ_FIXED/WRITE_FIXED. The
// memory must stay allocated, and unchanged in location, until
// UnregisterBuffers or Close; anonymous mmap memory is the safe choice.
func (r *Ring) RegisterBuffers(bufs [][]byte) error {
	if len(bufs) == 0 {
		return syscall.EINVAL
	}
	iov := make([]unix.Iovec, len(bufs))
	for i, b := range bufs {
		if len(b) == 0 {
			return syscall.EINVAL
		}
		iov[i].Base = &b[0]
		iov[i].SetLen(len(b))
	}
	_, err := r.register(registerBuffers, unsafe.Pointer(&iov[0]), uintptr(len(iov)))
	return err
}

// UnregisterBuffers releases the registered buffers.
func (r *Ring) UnregisterBuffers() error {
	_, err := r.register(unregisterBuffers, nil, 0)
	return err
}

// RegisterEventfd asks the kernel to signal fd on every posted CQE.
func (r *Ring) RegisterEventfd(fd int) error {
	v := int32(fd)
	_, err := r.register(registerEventfd, unsafe.Pointer(&v), 1)
	return err
}

// UnregisterEventfd undoes RegisterEventfd.
func (r *Ring) UnregisterEventfd() error {
	_, err := r.register(unregisterEventfd, nil, 0)
	return err
}

// EnableRings enables a ring created with SetupRDisabled; with
// SINGLE_ISSUER the calling thread becomes the submitter.
func (r *Ring) EnableRings() error {
	_, err := r.register(registerEnableRings, nil, 0)
	return err
}

// Probe asks the kernel which opcodes it supports (IORING_REGISTER_PROBE,
// 5.6).
func (r *Ring) Probe() (*Probe, error) {
	const nOps = 256
	var buf struct {
		hdr probeHeader
		ops [nOps]probeOp
	}
	if _, err := r.register(registerProbe, unsafe.Pointer(&buf), nOps); err != nil {
		return nil, err
	}
	p := &Probe{LastOp: sqe.Op(buf.hdr.LastOp)}
	for i := 0; i < int(buf.hdr.OpsLen) && i < nOps; i++ {
		if buf.ops[i].Flags&opSupported != 0 {
			p.supported[buf.ops[i].Op] = true
		}
	}
	return p, nil
}

// RegisterIOWQMaxWorkers caps the kernel's async workers (io-wq) that serve
// this ring's requests, per submitting thread: bounded workers run work on
// regular files and block devices (reads and writes that must wait, opens,
// statx, fsync), unbounded ones everything else (sockets, pipes, splice).
// A 0 leaves that kind's cap as it is. It returns the caps in force
// before, and applies to the calling thread's pool now and to the pools of
// threads that submit to the ring later.
func (r *Ring) RegisterIOWQMaxWorkers(bounded, unbounded uint32) (oldBounded, oldUnbounded uint32, err error) {
	v := [2]uint32{bounded, unbounded}
	if _, err := r.register(registerIOWQMax, unsafe.Pointer(&v[0]), 2); err != nil {
		return 0, 0, err
	}
	return v[0], v[1], nil
}
