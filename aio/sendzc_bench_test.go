//go:build linux

package aio

// Plain Send against zero-copy Send (Config.SendZeroCopyMin), side by side,
// the measurement behind the option's default (docs/design.md, decision
// 10). Run:
//
//	go test -run '^$' -bench 'SendZC' -count 3 ./aio/
//
// Each op sends one message of the given size in full (partial sends are
// continued) on a reused Wait-only Aio; the receiver drains with plain
// read(2) calls, in this process (a goroutine) or, for tcp-proc, in a child
// process. Besides MB/s, cpu-ns/op is this process's CPU time (user +
// system, getrusage) per message: with the receiver in a child it is the
// sender's cost alone.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

var zcBenchSizes = []int{4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20}

func BenchmarkSendZC(b *testing.B) {
	for _, transport := range []string{"tcp", "tcp-proc", "unix"} {
		for _, size := range zcBenchSizes {
			for _, mode := range []string{"plain", "zc"} {
				name := fmt.Sprintf("%s/%dK/%s", transport, size>>10, mode)
				b.Run(name, func(b *testing.B) { benchSendZC(b, transport, size, mode == "zc") })
			}
		}
	}
}

// BenchmarkSendZCVector: the same over two buffers (SENDMSG vs
// SENDMSG_ZC), loopback TCP in-process.
func BenchmarkSendZCVector(b *testing.B) {
	for _, size := range zcBenchSizes {
		for _, mode := range []string{"plain", "zc"} {
			b.Run(fmt.Sprintf("tcp/%dK/%s", size>>10, mode), func(b *testing.B) {
				benchSendZCv(b, "tcp", size, mode == "zc", 2)
			})
		}
	}
}

func benchSendZC(b *testing.B, transport string, size int, zc bool) {
	benchSendZCv(b, transport, size, zc, 1)
}

func benchSendZCv(b *testing.B, transport string, size int, zc bool, nbufs int) {
	min := 0
	if zc {
		min = 1
	}
	e, err := NewEngine(Config{SendZeroCopyMin: min})
	if err != nil {
		b.Skip(err)
	}
	defer e.Close()
	if zc && !e.Supports(FeatureZeroCopySend) {
		b.Skip("no SEND_ZC")
	}
	var snd int
	done := make(chan struct{})
	switch transport {
	case "unix":
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer unix.Close(fds[1])
		snd = fds[0]
		go drainFd(fds[1], done)
	case "tcp":
		var rcv int
		snd, rcv = tcpPair(b, 0, 0)
		go drainFd(rcv, done)
	case "tcp-proc":
		// Not Go's default listener: since Go 1.24 it is MPTCP, whose
		// accepted sockets refuse zero copy.
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		cmd := exec.Command(os.Args[0], "-test.run=^TestSendZCSinkProcess$")
		cmd.Env = append(os.Environ(), "AIORING_ZC_SINK="+ln.Addr().String())
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		go func() { cmd.Wait(); close(done) }()
		c, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		f, err := c.(*net.TCPConn).File() // a blocking duplicate
		c.Close()
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		snd = int(f.Fd())
	}
	bufs := make([][]byte, nbufs)
	for i := range bufs {
		bufs[i] = make([]byte, size/nbufs)
		for j := range bufs[i] {
			bufs[i][j] = byte(j)
		}
	}
	a := e.NewAio(nil)
	a.SetTimeout(Infinite)
	sendAll := func() {
		left := bufs
		var rest [MaxIOV][]byte
		for len(left) > 0 {
			a.SetIOV(left...)
			a.Send(snd)
			a.Wait()
			if err := a.Result(); err != nil {
				b.Fatal(err)
			}
			n := a.Count()
			// Drop what went out; keep the rest.
			k := copy(rest[:], left)
			left = rest[:k]
			for len(left) > 0 && n >= len(left[0]) {
				n -= len(left[0])
				left = left[1:]
			}
			if n > 0 {
				left[0] = left[0][n:]
			}
		}
	}
	sendAll() // warm up: pins, the socket's buffers
	var r0, r1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &r0)
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sendAll()
	}
	b.StopTimer()
	unix.Getrusage(unix.RUSAGE_SELF, &r1)
	cpu := (r1.Utime.Nano() - r0.Utime.Nano()) + (r1.Stime.Nano() - r0.Stime.Nano())
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	if n := e.zcEarlyNotifs.Load(); n > 0 {
		b.Logf("%d of %d notifications came before their send's result", n, b.N)
	}
	if zc != (a.zcSendOp() == 0x2f || a.zcSendOp() == 0x30) && transport != "unix" {
		b.Fatalf("zc %v but the last send went out as %v (refusals: %d)", zc, a.zcSendOp(), e.zcRefusals.Load())
	}
	unix.Shutdown(snd, unix.SHUT_WR)
	<-done
}

// drainFd reads fd until EOF.
func drainFd(fd int, done chan<- struct{}) {
	defer close(done)
	buf := make([]byte, 1<<20)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return
		}
	}
}

// TestSendZCSinkProcess is the receiving child process of the tcp-proc
// benchmark: it connects to AIORING_ZC_SINK and drains until EOF. Without
// that variable it does nothing.
func TestSendZCSinkProcess(t *testing.T) {
	addr := os.Getenv("AIORING_ZC_SINK")
	if addr == "" {
		t.Skip("the tcp-proc benchmark's child process")
	}
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrInet4{Port: p}
	copy(sa.Addr[:], net.ParseIP(host).To4())
	if err := unix.Connect(fd, sa); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	drainFd(fd, done)
}
