package aio_test

// RecvMsg on datagram sockets: one datagram per Msg, an empty one included
// (not an end of stream), its source in From, truncation to the pool
// buffer, and SendTo of an attached Msg; through the ring's multishot
// RECVMSG, the ring's single-shot fallback and the portable backend.

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// eachMsgMode runs f on an engine of each way RecvMsg can run here.
func eachMsgMode(t *testing.T, cfg aio.Config, f func(t *testing.T, e *aio.Engine)) {
	modes := []struct {
		name     string
		be       aio.Backend
		fallback bool
	}{
		{"multishot", aio.BackendIOURing, false},
		{"fallback", aio.BackendIOURing, true},
		{"portable", aio.BackendPortable, false},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			restore := aio.SetMsgFallback(m.fallback)
			c := cfg
			c.Backend = m.be
			e, err := aio.NewEngine(c)
			restore()
			if err != nil {
				t.Skipf("%s unavailable: %v", m.be, err)
			}
			t.Cleanup(func() { e.Close() })
			if m.name == "multishot" && !aio.MsgMultishot(e) {
				t.Skip("no multishot receive on this kernel")
			}
			f(t, e)
		})
	}
}

// recvMsgOnce runs one RecvMsg on fd and returns the bytes (copied), the
// source and whether a Msg came (false: end of stream).
func recvMsgOnce(t *testing.T, a *aio.Aio, fd int) ([]byte, unix.Sockaddr, bool) {
	t.Helper()
	a.RecvMsg(fd)
	a.Wait()
	if err := a.Result(); err != nil {
		t.Fatalf("RecvMsg: %v", err)
	}
	m := a.Msg()
	if m == nil {
		return nil, a.From(), false
	}
	defer m.Free()
	b := append([]byte(nil), m.Bytes()...)
	if a.Count() != len(b) {
		t.Fatalf("RecvMsg: Count %d, Msg of %d bytes", a.Count(), len(b))
	}
	return b, a.From(), true
}

func TestRecvMsgDatagrams(t *testing.T) {
	eachMsgMode(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		for _, tc := range dgramCases {
			t.Run(tc.name, func(t *testing.T) {
				if tc.abstract && runtime.GOOS != "linux" {
					t.Skip("abstract unix socket names are Linux's")
				}
				srv, srvAddr := dgramSocket(t, tc.family, tc.abstract)
				cli, cliAddr := dgramSocket(t, tc.family, tc.abstract)
				a := e.NewAio(nil)
				defer a.Free()
				a.SetTimeout(waitLimit)
				sent := []string{"one", "", "three", strings.Repeat("x", 1000)}
				for _, p := range sent {
					if err := unix.Sendto(cli, []byte(p), 0, srvAddr); err != nil {
						t.Fatal(err)
					}
				}
				for i, p := range sent {
					b, from, ok := recvMsgOnce(t, a, srv)
					if !ok {
						t.Fatalf("datagram %d (%d bytes): RecvMsg reported an end of stream", i, len(p))
					}
					if string(b) != p {
						t.Fatalf("datagram %d: %q, want %q", i, b, p)
					}
					if !sameAddr(from, cliAddr) {
						t.Fatalf("datagram %d: From = %s, want %s", i, addrString(from), addrString(cliAddr))
					}
				}
				// Another operation clears From.
				a.Nop()
				a.Wait()
				if a.From() != nil {
					t.Fatalf("From after a Nop = %v, want nil", a.From())
				}
			})
		}
	})
}

// A datagram longer than a pool buffer is cut to what the buffer holds
// after the source's room, as net.UDPConn.ReadFrom truncates; the next one
// is whole.
func TestRecvMsgDatagramTruncated(t *testing.T) {
	const size = 256
	eachMsgMode(t, aio.Config{MsgBufferSize: size}, func(t *testing.T, e *aio.Engine) {
		srv, srvAddr := dgramSocket(t, unix.AF_INET, false)
		cli, _ := dgramSocket(t, unix.AF_INET, false)
		a := e.NewAio(nil)
		defer a.Free()
		a.SetTimeout(waitLimit)
		long := bytes.Repeat([]byte("0123456789"), 100)
		for _, p := range [][]byte{long, []byte("next")} {
			if err := unix.Sendto(cli, p, 0, srvAddr); err != nil {
				t.Fatal(err)
			}
		}
		b, _, ok := recvMsgOnce(t, a, srv)
		if !ok || len(b) == 0 || len(b) > size || !bytes.Equal(b, long[:len(b)]) {
			t.Fatalf("a %d-byte datagram into %d-byte buffers: %d bytes %q", len(long), size, len(b), b)
		}
		t.Logf("kept %d of %d bytes", len(b), len(long))
		if b, _, ok := recvMsgOnce(t, a, srv); !ok || string(b) != "next" {
			t.Fatalf("the datagram after the truncated one: %q", b)
		}
	})
}

// Buffers too small for the multishot's header: the multishot RecvMsg
// says so with ErrInvalid; the single-shot paths have no header and
// receive.
func TestRecvMsgDatagramBufferTooSmall(t *testing.T) {
	eachMsgMode(t, aio.Config{MsgBufferSize: 32}, func(t *testing.T, e *aio.Engine) {
		srv, srvAddr := dgramSocket(t, unix.AF_INET, false)
		cli, _ := dgramSocket(t, unix.AF_INET, false)
		if err := unix.Sendto(cli, []byte("hi"), 0, srvAddr); err != nil {
			t.Fatal(err)
		}
		a := e.NewAio(nil)
		defer a.Free()
		a.SetTimeout(waitLimit)
		a.RecvMsg(srv)
		a.Wait()
		if aio.MsgMultishot(e) {
			if !errors.Is(a.Result(), aio.ErrInvalid) || !strings.Contains(a.Result().Error(), "MsgBufferSize") {
				t.Fatalf("multishot RecvMsg with 32-byte buffers = %v, want ErrInvalid naming MsgBufferSize", a.Result())
			}
			return
		}
		if a.Result() != nil || a.Msg() == nil || string(a.Msg().Bytes()) != "hi" {
			t.Fatalf("RecvMsg with 32-byte buffers: %v %d", a.Result(), a.Count())
		}
		a.Msg().Free()
	})
}

// An echo from the pool buffer: RecvMsg, then SendTo the attached Msg back
// to From, with no copy; the IOV is not what is sent.
func TestSendToAttachedMsg(t *testing.T) {
	eachMsgMode(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		srv, srvAddr := dgramSocket(t, unix.AF_INET6, false)
		cli, _ := dgramSocket(t, unix.AF_INET6, false)
		a := e.NewAio(nil)
		defer a.Free()
		a.SetTimeout(waitLimit)
		a.SetIOV([]byte("the IOV, not to be sent"))
		if err := unix.Sendto(cli, []byte("ping"), 0, srvAddr); err != nil {
			t.Fatal(err)
		}
		a.RecvMsg(srv)
		a.Wait()
		m := a.Msg()
		if a.Result() != nil || m == nil {
			t.Fatalf("RecvMsg: %v", a.Result())
		}
		a.SetMsg(m)
		a.SendTo(srv, a.From())
		a.Wait()
		if a.Result() != nil || a.Count() != 4 {
			t.Fatalf("SendTo of the attached Msg: %v %d", a.Result(), a.Count())
		}
		m.Free()
		buf := make([]byte, 64)
		n, _, err := unix.Recvfrom(cli, buf, 0)
		if err != nil || string(buf[:n]) != "ping" {
			t.Fatalf("echo: %q %v", buf[:n], err)
		}
		// m is freed but still attached: sending it is a use after free.
		if msg := mustPanic(t, "SendTo of a freed Msg", func() { a.SendTo(srv, srvAddr) }); !strings.Contains(msg, "freed") {
			t.Fatalf("SendTo of a freed Msg panicked with %q", msg)
		}
		a.SetMsg(nil)
	})
}

// A stream socket's RecvMsg still reports its end as Count 0 and no Msg,
// in every mode (the fallback's recvmsg sees no source there).
func TestRecvMsgStreamEnd(t *testing.T) {
	eachMsgMode(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|tSockCloexec, 0)
		if err != nil {
			t.Fatal(err)
		}
		own(t, fds[0])
		a := e.NewAio(nil)
		defer a.Free()
		a.SetTimeout(waitLimit)
		write(t, fds[1], "tail")
		unix.Close(fds[1])
		if b, from, ok := recvMsgOnce(t, a, fds[0]); !ok || string(b) != "tail" || from != nil {
			t.Fatalf("RecvMsg: %q %v %v", b, from, ok)
		}
		if b, _, ok := recvMsgOnce(t, a, fds[0]); ok {
			t.Fatalf("RecvMsg at the end of the stream: a Msg of %q", b)
		}
	})
}
