//go:build linux

package completion

import (
	"testing"

	"github.com/aioring/aioring/internal/op"
	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

// Defect: io_uring_enter issued with RawSyscall can copy a large cached
// read inline while holding the P and delaying a stop-the-world. File
// transfers above inlineCopyMax are submitted with Syscall instead.
func TestRegressLargeFileIOMayBlock(t *testing.T) {
	vec := func(sizes ...int) *op.Desc {
		iov := make([]unix.Iovec, len(sizes))
		for i, n := range sizes {
			iov[i].SetLen(n)
		}
		return &op.Desc{Vec: &iov[0], NVec: len(iov)}
	}
	one := func(n int) *op.Desc {
		d := &op.Desc{}
		d.Iov.SetLen(n)
		return d
	}
	for _, c := range []struct {
		name string
		kind op.Kind
		d    *op.Desc
		want bool
	}{
		{"small read", op.Read, one(4096), false},
		{"large read", op.Read, one(inlineCopyMax + 1), true},
		{"large vector write", op.Write, vec(inlineCopyMax/2, inlineCopyMax/2+1), true},
		{"large recv", op.Recv, one(4 * inlineCopyMax), false},
	} {
		c.d.Kind = c.kind
		if got := mayBlock(c.d); got != c.want {
			t.Errorf("%s: mayBlock %v, want %v", c.name, got, c.want)
		}
	}
}

// The SQE a Desc becomes: opcode, flags and the linked timeout, for the
// kinds whose choice depends on the description.
func TestPrepOp(t *testing.T) {
	var s0, s1 sqe.SQE
	ents := []*sqe.SQE{&s0, &s1}
	buf := make([]byte, 16)
	d := &op.Desc{Kind: op.Recv, FD: 3, Attempt: true, Token: 42}
	d.Iov.Base = &buf[0]
	d.Iov.SetLen(len(buf))
	if linked(d) {
		t.Fatal("an attempt to receive needs no link: MSG_DONTWAIT does it")
	}
	prepOp(d, ents[:1])
	if ents[0].Opcode != sqe.OpRecv || ents[0].OpFlags&unix.MSG_DONTWAIT == 0 || ents[0].UserData != 42 {
		t.Fatalf("attempt Recv: %+v", *ents[0])
	}
	d = &op.Desc{Kind: op.Accept, FD: 3, Attempt: true, Token: 7}
	if !linked(d) {
		t.Fatal("an attempt to accept needs the shortest link timer")
	}
	prepOp(d, ents)
	if ents[0].Flags&sqe.IOLink == 0 || ents[1].Opcode != sqe.OpLinkTimeout {
		t.Fatalf("attempt Accept: %+v then %+v", *ents[0], *ents[1])
	}
	d = &op.Desc{Kind: op.Send, FD: 3, Deadline: op.Deadline{Rel: 5e9}}
	prepOp(d, ents)
	if ents[0].OpFlags&unix.MSG_NOSIGNAL == 0 || d.Scratch != [2]int64{5, 0} || ents[1].OpFlags != 0 {
		t.Fatalf("Send with a deadline: %+v, timespec %v", *ents[0], d.Scratch)
	}
	d = &op.Desc{Kind: op.Send, FD: 3, Deadline: op.Deadline{Abs: 7e9 + 3}}
	prepOp(d, ents)
	if d.Scratch != [2]int64{7, 3} || ents[1].OpFlags != 1 {
		t.Fatalf("Send with an absolute deadline: timespec %v, flags %#x", d.Scratch, ents[1].OpFlags)
	}
}
