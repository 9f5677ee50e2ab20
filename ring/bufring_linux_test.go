//go:build linux

package ring

import (
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A multishot RECV over a provided-buffer ring: each message lands in a
// buffer the kernel picks, in the order the descriptors were published,
// the CQE naming it (IORING_CQE_F_BUFFER, bid in the upper 16 bits) with
// IORING_CQE_F_MORE while armed; with the ring empty it ends with -ENOBUFS
// and no F_MORE, and a re-published buffer serves a re-armed request.
func TestBufRingMultishotRecv(t *testing.T) {
	if !KernelAtLeast(6, 0) {
		t.Skip("multishot receive needs Linux 6.0")
	}
	r := newRing(t, Options{Entries: 8})
	if unsafe.Sizeof(bufReg{}) != 40 || unsafe.Sizeof(BufDesc{}) != 16 {
		t.Fatal("io_uring_buf_reg is 40 bytes, io_uring_buf 16")
	}
	if _, err := r.RegisterBufRing(3, 7); err == nil {
		t.Fatal("RegisterBufRing(3 entries) succeeded; the kernel wants a power of two")
	}
	const n, size = 4, 32
	br, err := r.RegisterBufRing(n, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer r.UnregisterBufRing(br)
	mem := make([]byte, n*size)
	for i := 0; i < n; i++ {
		br.Add(uint64(uintptr(unsafe.Pointer(&mem[i*size]))), size, uint16(i), i)
	}
	br.Advance(n)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	arm := func() {
		s := r.GetSQE()
		s.RecvMultishot(int32(fds[0]), 7, 0)
		s.UserData = 42
		if _, err := r.Submit(); err != nil {
			t.Fatal(err)
		}
	}
	arm()
	for i := 0; i <= n; i++ {
		unix.Write(fds[1], []byte{'a' + byte(i)})
	}
	var cqes [8]CQE
	got := 0
	for got < n+1 {
		r.SubmitAndWait(1)
		got += r.PeekCQEs(cqes[got:])
	}
	for i := 0; i < n; i++ {
		c := cqes[i]
		bid := int(c.Flags >> CQEBufferShift)
		if c.Res != 1 || c.Flags&CQEFBuffer == 0 || c.Flags&CQEFMore == 0 || bid != i || mem[bid*size] != 'a'+byte(i) {
			t.Fatalf("CQE %d = %+v (bid %d, byte %q)", i, c, bid, mem[bid*size])
		}
	}
	if c := cqes[n]; c.Res != -int32(syscall.ENOBUFS) || c.Flags&CQEFMore != 0 {
		t.Fatalf("with the ring empty: CQE %+v, want -ENOBUFS without F_MORE", c)
	}
	// Give buffer 2 back; the message still in the socket fills it.
	br.Add(uint64(uintptr(unsafe.Pointer(&mem[2*size]))), size, 2, 0)
	br.Advance(1)
	arm()
	r.SubmitAndWait(1)
	if k := r.PeekCQEs(cqes[:1]); k != 1 || cqes[0].Res != 1 || int(cqes[0].Flags>>CQEBufferShift) != 2 || mem[2*size] != 'a'+n {
		t.Fatalf("after re-publishing: %+v, byte %q", cqes[0], mem[2*size])
	}
	// Cancel the armed request: its last CQE has no F_MORE.
	s := r.GetSQE()
	s.AsyncCancel(42, 0)
	s.UserData = 1
	r.SubmitAndWait(2)
	k := r.PeekCQEs(cqes[:])
	seen := false
	for _, c := range cqes[:k] {
		if c.UserData == 42 {
			seen = c.Flags&CQEFMore == 0
		}
	}
	if !seen {
		t.Fatalf("no last CQE after the cancel: %+v", cqes[:k])
	}
}
