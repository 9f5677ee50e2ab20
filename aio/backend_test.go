//go:build linux

package aio

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// AIORING_BACKEND overrides BackendAuto: each value gives its backend with
// no Fallback; an unknown value (or Config.Backend) is ErrInvalid naming
// what was wrong; an explicit Config.Backend wins over the variable.
func TestBackendSelection(t *testing.T) {
	for _, tc := range []struct {
		env  string
		cfg  Backend
		want Backend
	}{
		{"portable", BackendAuto, BackendPortable},
		{"io_uring", BackendAuto, BackendIOURing},
		{"", BackendAuto, ""}, // io_uring here, or the portable backend with a Fallback
		{"portable", BackendIOURing, BackendIOURing},
		{"io_uring", BackendPortable, BackendPortable},
	} {
		t.Run(tc.env+"/"+string(tc.cfg), func(t *testing.T) {
			t.Setenv(BackendEnv, tc.env)
			e, err := NewEngine(Config{Backend: tc.cfg})
			if errors.Is(err, ErrUnsupported) && tc.want == BackendIOURing {
				t.Skipf("io_uring unavailable: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			got := e.Backend()
			if tc.want != "" && got != tc.want {
				t.Fatalf("Backend() = %q, want %q", got, tc.want)
			}
			switch {
			case tc.want != "" && e.Fallback() != nil:
				t.Fatalf("Fallback() = %v for a backend that was asked for", e.Fallback())
			case got == BackendPortable && tc.want == "" && !errors.Is(e.Fallback(), ErrUnsupported):
				t.Fatalf("Auto fell back without a reason: %v", e.Fallback())
			case got == BackendIOURing && e.Fallback() != nil:
				t.Fatalf("Fallback() = %v on io_uring", e.Fallback())
			}
			a := e.NewAio(nil)
			a.Nop()
			a.Wait()
			if a.Result() != nil {
				t.Fatalf("Nop: %v", a.Result())
			}
		})
	}
	t.Run("bad-env", func(t *testing.T) {
		t.Setenv(BackendEnv, "epoll")
		e, err := NewEngine(Config{})
		if e != nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), BackendEnv) || !strings.Contains(err.Error(), "epoll") {
			t.Fatalf("NewEngine with %s=epoll: %v, %v; want ErrInvalid naming the variable", BackendEnv, e, err)
		}
		defaultMu.Lock()
		made := defaultEngine != nil
		defaultMu.Unlock()
		if _, err := Default(); !made && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Default with %s=epoll: %v, want ErrInvalid", BackendEnv, err)
		}
	})
	t.Run("bad-config", func(t *testing.T) {
		t.Setenv(BackendEnv, "")
		_, err := NewEngine(Config{Backend: "IO_URING"})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "Config.Backend") {
			t.Fatalf("Config.Backend \"IO_URING\": %v; want ErrInvalid naming Config.Backend", err)
		}
	})
}

// The portable backend never changes the caller's descriptor flags: a
// blocking socket stays blocking through Recv, Send, Accept and Connect
// (Connect makes it non-blocking for the connect(2) call alone), and a
// non-blocking one stays non-blocking.
func TestPortableKeepsDescriptorFlags(t *testing.T) {
	e, err := NewEngine(Config{Backend: BackendPortable})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	flags := func(fd int) int {
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil {
			t.Fatal(err)
		}
		return fl
	}
	for _, nonblock := range []bool{false, true} {
		l, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(l)
		if err := unix.Bind(l, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		if err := unix.Listen(l, 8); err != nil {
			t.Fatal(err)
		}
		sa, _ := unix.Getsockname(l)
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(c)
		unix.SetNonblock(l, nonblock)
		unix.SetNonblock(c, nonblock)
		lf, cf := flags(l), flags(c)

		acc := e.NewAio(nil)
		acc.Accept(l) // pending until the connect below
		con := e.NewAio(nil)
		con.Connect(c, sa)
		con.Wait()
		acc.Wait()
		if con.Result() != nil || acc.Result() != nil {
			t.Fatalf("nonblock=%v: Connect %v, Accept %v", nonblock, con.Result(), acc.Result())
		}
		s := acc.Output(0).(int)
		defer unix.Close(s)
		r := e.NewAio(nil)
		r.SetIOV(make([]byte, 8))
		r.Recv(s) // pending until the send
		w := e.NewAio(nil)
		w.SetIOV([]byte("hello"))
		w.Send(c)
		w.Wait()
		r.Wait()
		if r.Result() != nil || r.Count() != 5 {
			t.Fatalf("nonblock=%v: Recv %v %d", nonblock, r.Result(), r.Count())
		}
		if flags(l) != lf || flags(c) != cf {
			t.Fatalf("nonblock=%v: flags changed: listener %#x -> %#x, socket %#x -> %#x", nonblock, lf, flags(l), cf, flags(c))
		}
		if got := flags(s) & unix.O_NONBLOCK; got != 0 {
			t.Fatalf("accepted socket is non-blocking (%#x); the contract gives blocking mode", flags(s))
		}
	}
}
