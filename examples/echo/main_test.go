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

var bin = exampletest.Binary{Name: "echo"}

// binary builds the echo server once per test run.
func binary(t *testing.T) string { return bin.Path(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	bin.Remove()
	os.Exit(code)
}

// startServer runs the echo binary on a free loopback port and returns its
// address; at the end of the test it is stopped with SIGTERM, which must
// make it exit 0.
func startServer(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("server said %q, %v; stderr %s", line, err, stderr.String())
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server exit after SIGTERM: %v; stderr:\n%s", err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Errorf("server did not stop within 20s of SIGTERM")
		}
	})
	return addr
}

// echoMessages sends each message and reads its echo back, writing and
// reading at once so a large message cannot deadlock on full buffers.
func echoMessages(c net.Conn, msgs [][]byte) error {
	c.SetDeadline(time.Now().Add(60 * time.Second))
	for i, m := range msgs {
		werr := make(chan error, 1)
		go func() {
			_, err := c.Write(m)
			werr <- err
		}()
		got := make([]byte, len(m))
		_, rerr := io.ReadFull(c, got)
		if err := <-werr; err != nil {
			return fmt.Errorf("message %d: write: %w", i, err)
		}
		if rerr != nil {
			return fmt.Errorf("message %d: read: %w", i, rerr)
		}
		if !bytes.Equal(got, m) {
			return fmt.Errorf("message %d (%d bytes): echo differs", i, len(m))
		}
	}
	return nil
}

func TestEcho500Clients(t *testing.T) {
	echo500(t, startServer(t, "-idle", "60s", "-buf", "4096"))
}

// echo500 runs 500 clients at once against addr, each echoing a few
// random messages of up to 20,000 bytes, checked byte for byte.
func echo500(t *testing.T, addr string) {
	const clients, messages = 500, 5
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := make(chan struct{})
	for i := range clients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 3))
			msgs := make([][]byte, messages)
			for j := range msgs {
				msgs[j] = make([]byte, 1+r.IntN(20_000)) // up to 5 receive buffers
				for k := range msgs[j] {
					msgs[j][k] = byte(r.Uint32())
				}
			}
			<-start
			c, err := net.DialTimeout("tcp", addr, 30*time.Second)
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
				return
			}
			defer c.Close()
			if err := echoMessages(c, msgs); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		})
	}
	close(start) // all 500 at once
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 10 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Fatalf("%d of %d clients failed", n, clients)
	}
}

// One client streams 16 MiB while reading the echo: the two directions
// overlap, and every byte comes back in order.
func TestEchoStream(t *testing.T) { echoStream(t, startServer(t)) }

func echoStream(t *testing.T, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := make([]byte, 16<<20)
	r := rand.New(rand.NewPCG(9, 9))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	if err := echoMessages(c, [][]byte{data}); err != nil {
		t.Fatal(err)
	}
}

func TestEchoIdleTimeout(t *testing.T) {
	const idle = time.Second
	addr := startServer(t, "-idle", idle.String())

	// An active client, sending more often than the timeout, stays.
	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	// Active for twice the idle timeout, with gaps of a fifth of it.
	for i := range 10 {
		if err := echoMessages(busy, [][]byte{[]byte(fmt.Sprint("ping ", i))}); err != nil {
			t.Fatalf("active client, message %d: %v", i, err)
		}
		time.Sleep(idle / 5) // the behaviour under test: gaps shorter than the idle timeout
	}

	// An idle one is disconnected: EOF, after the timeout and not long
	// before it.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := echoMessages(c, [][]byte{[]byte("hello")}); err != nil {
		t.Fatal(err)
	}
	quiet := time.Now()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := c.Read(make([]byte, 10))
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("idle client read %d, %v; want 0, EOF", n, err)
	}
	if el := time.Since(quiet); el < idle-20*time.Millisecond {
		t.Errorf("disconnected after %v, before the %v idle timeout", el, idle)
	}
}

// Standard tools as clients, where installed: they send stdin and print
// what comes back.
func TestEchoExternalClients(t *testing.T) {
	addr := startServer(t)
	host, port, _ := net.SplitHostPort(addr)
	input := "hello from a tool\nsecond line\n" + strings.Repeat("x", 100_000) + "\n"
	for _, tool := range []struct {
		name string
		args []string
	}{
		// -t: wait up to 2s for the echo after stdin ends.
		{"socat", []string{"-t", "2", "-", "TCP:" + addr}},
		// -q: after stdin ends, wait 2s for the echo, then quit.
		{"nc", []string{"-q", "2", host, port}},
	} {
		t.Run(tool.name, func(t *testing.T) {
			path, err := exec.LookPath(tool.name)
			if err != nil {
				t.Skipf("%s is not installed", tool.name)
			}
			cmd := exec.Command(path, tool.args...)
			cmd.Stdin = strings.NewReader(input)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v", tool.name, err)
			}
			if string(out) != input {
				t.Errorf("%s got %d bytes back, want the %d sent", tool.name, len(out), len(input))
			}
		})
	}
}
