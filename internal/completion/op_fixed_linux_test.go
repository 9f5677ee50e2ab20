//go:build linux

package completion

import (
	"testing"

	"github.com/aioring/aioring/internal/op"
	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

// A Desc that names a registered buffer becomes READ_FIXED, WRITE_FIXED,
// READV_FIXED or WRITEV_FIXED with its buf_index, and one that names a
// registered descriptor carries IOSQE_FIXED_FILE and the slot in place of
// the descriptor; Opcode agrees, for the probe check. A linked timeout
// keeps its own flags.
func TestPrepOpFixed(t *testing.T) {
	buf := make([]byte, 64)
	iov := []unix.Iovec{{Base: &buf[0]}, {Base: &buf[32]}}
	iov[0].SetLen(16)
	iov[1].SetLen(16)
	for _, c := range []struct {
		kind op.Kind
		vec  bool
		want sqe.Op
	}{
		{op.Read, false, sqe.OpReadFixed},
		{op.Write, false, sqe.OpWriteFixed},
		{op.Read, true, sqe.OpReadvFixed},
		{op.Write, true, sqe.OpWritevFixed},
	} {
		var s0, s1 sqe.SQE
		d := &op.Desc{Kind: c.kind, FD: 7, Off: 4096, FixedBuf: true, BufIndex: 5,
			FixedFile: true, FileIndex: 9, Token: 1, Deadline: op.Deadline{Rel: 1e6}}
		if c.vec {
			d.Vec, d.NVec = &iov[0], 2
		} else {
			d.Iov.Base = &buf[0]
			d.Iov.SetLen(len(buf))
		}
		prepOp(d, []*sqe.SQE{&s0, &s1})
		if s0.Opcode != c.want || s0.BufIndex != 5 || s0.Off != 4096 {
			t.Errorf("%v vec=%v: opcode %v buf_index %d off %d, want %v 5 4096", c.kind, c.vec, s0.Opcode, s0.BufIndex, s0.Off, c.want)
		}
		if s0.Fd != 9 || s0.Flags&sqe.FixedFile == 0 || s0.Flags&sqe.IOLink == 0 {
			t.Errorf("%v vec=%v: fd %d flags %#x, want slot 9 with FIXED_FILE|IO_LINK", c.kind, c.vec, s0.Fd, s0.Flags)
		}
		if s1.Opcode != sqe.OpLinkTimeout || s1.Flags&sqe.FixedFile != 0 {
			t.Errorf("%v vec=%v: linked timeout %v flags %#x", c.kind, c.vec, s1.Opcode, s1.Flags)
		}
		if o, ok := Opcode(d); !ok || o != c.want {
			t.Errorf("%v vec=%v: Opcode %v, want %v", c.kind, c.vec, o, c.want)
		}
		// Without the registrations: the plain forms and the descriptor.
		d.FixedBuf, d.FixedFile = false, false
		prepOp(d, []*sqe.SQE{&s0, &s1})
		if s0.Fd != 7 || s0.Flags&sqe.FixedFile != 0 || s0.BufIndex != 0 || s0.Opcode == c.want {
			t.Errorf("%v vec=%v unregistered: opcode %v fd %d flags %#x buf_index %d", c.kind, c.vec, s0.Opcode, s0.Fd, s0.Flags, s0.BufIndex)
		}
	}
}
