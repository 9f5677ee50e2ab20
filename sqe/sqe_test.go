package sqe

import (
	"testing"
	"unsafe"
)

// The offsets are those of struct io_uring_sqe in include/uapi/linux/io_uring.h.
func TestLayout(t *testing.T) {
	var s SQE
	if got := unsafe.Sizeof(s); got != 64 {
		t.Fatalf("sizeof(SQE) = %d, want 64", got)
	}
	for _, c := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"opcode", unsafe.Offsetof(s.Opcode), 0},
		{"flags", unsafe.Offsetof(s.Flags), 1},
		{"ioprio", unsafe.Offsetof(s.Ioprio), 2},
		{"fd", unsafe.Offsetof(s.Fd), 4},
		{"off", unsafe.Offsetof(s.Off), 8},
		{"addr", unsafe.Offsetof(s.Addr), 16},
		{"len", unsafe.Offsetof(s.Len), 24},
		{"op_flags", unsafe.Offsetof(s.OpFlags), 28},
		{"user_data", unsafe.Offsetof(s.UserData), 32},
		{"buf_index", unsafe.Offsetof(s.BufIndex), 40},
		{"personality", unsafe.Offsetof(s.Personality), 42},
		{"file_index", unsafe.Offsetof(s.FileIndex), 44},
		{"addr3", unsafe.Offsetof(s.Addr3), 48},
		{"pad2", unsafe.Offsetof(s.Pad2), 56},
	} {
		if c.got != c.want {
			t.Errorf("offsetof(%s) = %d, want %d", c.name, c.got, c.want)
		}
	}
	if unsafe.Sizeof(Timespec{}) != 16 {
		t.Errorf("sizeof(Timespec) = %d, want 16", unsafe.Sizeof(Timespec{}))
	}
}

func TestUserDataRoundTrip(t *testing.T) {
	for _, c := range []struct {
		kind  Kind
		index uint32
		gen   uint32
	}{
		{0, 0, 0}, {1, 1, 1}, {MaxKind, ^uint32(0), GenMask}, {3, 12345, 1 << 27},
	} {
		u := Pack(c.kind, c.index, c.gen)
		if u.Kind() != c.kind || u.Index() != c.index || u.Gen() != c.gen {
			t.Errorf("Pack(%d,%d,%d) = %#x decodes to (%d,%d,%d)", c.kind, c.index, c.gen, uint64(u), u.Kind(), u.Index(), u.Gen())
		}
		if uint64(u) == ^uint64(0) {
			t.Errorf("Pack(%d,%d,%d) is the reserved all-ones value", c.kind, c.index, c.gen)
		}
	}
	// Generations wrap at 28 bits instead of spilling into the kind.
	if u := Pack(2, 7, GenMask+1); u.Kind() != 2 || u.Gen() != 0 {
		t.Errorf("gen overflow leaked: kind %d gen %d", u.Kind(), u.Gen())
	}
}

// Every helper overwrites the whole entry: stale bits from a reused slot
// must never reach the kernel.
func TestPrepClearsStaleFields(t *testing.T) {
	dirty := SQE{Opcode: 99, Flags: 0xff, Ioprio: 0xffff, Fd: 77, Off: 1, Addr: 2, Len: 3,
		OpFlags: 4, UserData: 5, BufIndex: 6, Personality: 7, FileIndex: 8, Addr3: 9, Pad2: 10}
	var ts Timespec
	buf := make([]byte, 8)
	preps := map[string]func(*SQE){
		"Nop":      func(s *SQE) { s.Nop() },
		"Read":     func(s *SQE) { s.Read(3, unsafe.Pointer(&buf[0]), 8, -1, 0) },
		"Write":    func(s *SQE) { s.Write(3, unsafe.Pointer(&buf[0]), 8, 0, 0) },
		"Fsync":    func(s *SQE) { s.Fsync(3, 0) },
		"Recv":     func(s *SQE) { s.Recv(3, unsafe.Pointer(&buf[0]), 8, 0) },
		"Send":     func(s *SQE) { s.Send(3, unsafe.Pointer(&buf[0]), 8, 0) },
		"Accept":   func(s *SQE) { s.Accept(3, nil, nil, 0) },
		"Timeout":  func(s *SQE) { s.Timeout(&ts, 0, 0) },
		"Link":     func(s *SQE) { s.LinkTimeout(&ts, 0) },
		"Cancel":   func(s *SQE) { s.AsyncCancel(1, 0) },
		"CancelFD": func(s *SQE) { s.CancelFD(3) },
		"Poll":     func(s *SQE) { s.PollAdd(3, 1) },
	}
	for name, prep := range preps {
		s := dirty
		prep(&s)
		if s.Flags != 0 || s.UserData != 0 || s.BufIndex != 0 || s.Personality != 0 ||
			s.FileIndex != 0 || s.Addr3 != 0 || s.Pad2 != 0 || s.Ioprio != 0 {
			t.Errorf("%s left stale fields: %+v", name, s)
		}
	}
}

// CancelFD names the descriptor in fd and asks for every match.
func TestCancelFDPrep(t *testing.T) {
	s := SQE{Flags: IOLink, Addr: 99, Len: 7, UserData: 5}
	s.CancelFD(4)
	if s != (SQE{Opcode: OpAsyncCancel, Fd: 4, OpFlags: CancelFd | CancelAll}) {
		t.Fatalf("CancelFD: %+v", s)
	}
}

func TestTimespec(t *testing.T) {
	var ts Timespec
	ts.SetNanoseconds(2_500_000_001)
	if ts.Sec != 2 || ts.Nsec != 500_000_001 {
		t.Fatalf("SetNanoseconds(2.5e9+1) = %+v", ts)
	}
}

func TestOpString(t *testing.T) {
	if OpLinkTimeout.String() != "LINK_TIMEOUT" || Op(200).String() != "OP(200)" {
		t.Fatalf("names: %q %q", OpLinkTimeout.String(), Op(200).String())
	}
}

// The multishot preps set what the kernel reads: IOSQE_BUFFER_SELECT and
// the group in buf_group, the multishot bit in ioprio, and overwrite a
// stale entry whole.
func TestMultishotPreps(t *testing.T) {
	s := SQE{Flags: IOLink, Addr: 99, Len: 7, UserData: 5, FileIndex: 3}
	s.RecvMultishot(4, 9, 0)
	if s != (SQE{Opcode: OpRecv, Flags: BufferSelect, Ioprio: IoprioRecvMultishot, Fd: 4, BufIndex: 9}) {
		t.Fatalf("RecvMultishot: %+v", s)
	}
	var hdr [56]byte
	s = SQE{Flags: IOLink, Addr: 99, Len: 7, UserData: 5}
	s.RecvmsgMultishot(4, unsafe.Pointer(&hdr), 9, 0)
	if s != (SQE{Opcode: OpRecvmsg, Flags: BufferSelect, Ioprio: IoprioRecvMultishot, Fd: 4, Addr: uint64(uintptr(unsafe.Pointer(&hdr))), Len: 1, BufIndex: 9}) {
		t.Fatalf("RecvmsgMultishot: %+v", s)
	}
	s = SQE{Flags: IOLink, Addr: 99, Len: 7}
	s.AcceptMultishot(4, 0x80000)
	if s != (SQE{Opcode: OpAccept, Ioprio: IoprioAcceptMultishot, Fd: 4, OpFlags: 0x80000}) {
		t.Fatalf("AcceptMultishot: %+v", s)
	}
}
