//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aioring/aioring/examples/internal/exampletest"
)

var bin = exampletest.Binary{Name: "proxy"}

// binary builds the proxy once per test run.
func binary(t *testing.T) string { return bin.Path(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	bin.Remove()
	os.Exit(code)
}

// echoUpstream is an echo server on loopback that ends its stream when the
// client ends its own (so the proxy's half-close is what ends it).
func echoUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// startProxy runs the proxy binary on a free loopback port and returns its
// address and its stderr; at the end of the test it is stopped with
// SIGTERM, which must make it exit 0.
func startProxy(t *testing.T, args ...string) (string, *syncBuf) {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuf{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	addr, _, _ := strings.Cut(rest, ",")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("proxy said %q, %v; stderr %s", line, err, stderr.String())
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("proxy exit after SIGTERM: %v; stderr:\n%s", err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Errorf("proxy did not stop within 20s of SIGTERM")
		}
	})
	return addr, stderr
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// echoThrough sends data through the proxy to the echo upstream while
// reading the echo, ends its stream, and checks every byte came back
// followed by the end of the stream.
func echoThrough(addr string, data []byte) error {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	got, rerr := io.ReadAll(c)
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if rerr != nil {
		return fmt.Errorf("read after %d bytes: %w", len(got), rerr)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("got %d bytes back for %d sent, not the same", len(got), len(data))
	}
	return nil
}

// The built proxy forwards many connections at once byte for byte, both
// ways, large and small, and passes the client's end of stream on; with
// both by default (the 8 MiB clients stream, so their directions splice)
// and with -copy.
func TestProxyForwards(t *testing.T) {
	t.Run("splice", func(t *testing.T) { testProxyForwards(t) })
	t.Run("copy", func(t *testing.T) { testProxyForwards(t, "-copy") })
}

func testProxyForwards(t *testing.T, flags ...string) {
	addr, stderr := startProxy(t, append([]string{"-upstream", echoUpstream(t), "-buf", "8192"}, flags...)...)
	const clients = 100
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 5))
			n := r.IntN(100_000)
			if i%25 == 0 {
				n = 8 << 20
			}
			var key [32]byte
			key[0], key[1] = byte(i), 0xAB
			data := make([]byte, n)
			rand.NewChaCha8(key).Read(data)
			if err := echoThrough(addr, data); err != nil {
				errs <- fmt.Errorf("client %d (%d bytes): %w", i, n, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s := stderr.String(); s != "" {
		t.Errorf("the proxy logged:\n%s", s)
	}
}

// SIGTERM with connections open and an upstream still streaming: the
// proxy exits 0 (checked by startProxy's cleanup) and its clients see
// their connections end.
func TestProxyStopsWithOpenConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(time.Minute))
				chunk := make([]byte, 4096)
				for {
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			})
		}
	})
	cmd := exec.Command(binary(t), "-listen", "127.0.0.1:0", "-upstream", ln.Addr().String(), "-v")
	stdout, _ := cmd.StdoutPipe()
	var stderr syncBuf
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	rest, _ := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	addr, _, _ := strings.Cut(rest, ",")
	var cs []net.Conn
	for range 5 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 10_000)); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v; stderr:\n%s", err, stderr.String())
	}
	for i, c := range cs {
		if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("client %d: %v, want its connection ended", i, err)
		}
	}
	if s := stderr.String(); strings.Count(s, "closed: proxy stopping") != len(cs) {
		t.Errorf("want %d connections closed by the stop in the log:\n%s", len(cs), s)
	}
}

func TestProxyBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "-upstream HOST:PORT is required"},
		{[]string{"-upstream", "127.0.0.1:1", "-buf", "0"}, "-buf 0"},
		{[]string{"-upstream", "127.0.0.1:1", "-dial-timeout", "-1s"}, "-dial-timeout"},
		{[]string{"-upstream", "127.0.0.1:1", "-msg", "-copy"}, "-msg and -copy"},
		{[]string{"-upstream", "nohostport"}, "-upstream"},
		{[]string{"-upstream", "127.0.0.1:1", "extra"}, "unexpected argument"},
		{[]string{"-nosuchflag"}, "not defined"},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("proxy %q: exit %d, stderr %q; want 2 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
	// A -listen address in use fails with status 1 and says so.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out, errb bytes.Buffer
	if code := run([]string{"-listen", ln.Addr().String(), "-upstream", "127.0.0.1:1"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "address already in use") {
		t.Errorf("proxy on a used port: exit %d, stderr %q; want 1 and the bind error", code, errb.String())
	}
}
