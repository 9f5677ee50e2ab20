package sqe

import (
	"testing"
	"unsafe"
)

// The zero-copy preps overwrite every field, put the zero-copy flags in
// ioprio and the message flags in op_flags, as the kernel reads them.
func TestPrepZC(t *testing.T) {
	dirty := SQE{Opcode: 99, Flags: 0xff, Ioprio: 0xffff, Fd: 77, Off: 1, Addr: 2, Len: 3,
		OpFlags: 4, UserData: 5, BufIndex: 6, Personality: 7, FileIndex: 8, Addr3: 9, Pad2: 10}
	buf := make([]byte, 8)
	p := unsafe.Pointer(&buf[0])

	s := dirty
	s.SendZC(3, p, 8, 0x4000, SendZCReportUsage)
	want := SQE{Opcode: OpSendZC, Fd: 3, Addr: uint64(uintptr(p)), Len: 8, OpFlags: 0x4000, Ioprio: SendZCReportUsage}
	if s != want {
		t.Errorf("SendZC = %+v, want %+v", s, want)
	}
	s = dirty
	s.SendmsgZC(4, p, 0x40, 0)
	want = SQE{Opcode: OpSendmsgZC, Fd: 4, Addr: uint64(uintptr(p)), Len: 1, OpFlags: 0x40}
	if s != want {
		t.Errorf("SendmsgZC = %+v, want %+v", s, want)
	}
	if OpSendZC.String() != "SEND_ZC" || OpSendmsgZC.String() != "SENDMSG_ZC" {
		t.Errorf("names: %q %q", OpSendZC.String(), OpSendmsgZC.String())
	}
}
