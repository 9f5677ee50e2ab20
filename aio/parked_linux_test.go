//go:build linux

package aio

// How SubmitMark.Parked sees an operation wait in the kernel on Linux, and
// the waits for what a multishot takes from a socket: all read from /proc
// or asked of the socket, so nothing in the engine is made to serve tests.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// parkedNow is SubmitMark.Parked's test on Linux, read from /proc. A
// ring engine's blocking socket transfer waits in its readiness backend's
// epoll instance (sockwait.go), as on the portable backend.
func (m SubmitMark) parkedNow(t testing.TB, e *Engine, a *Aio, fd int) bool {
	if e.Backend() == BackendPortable || a.onReadinessBackend() {
		return epollArmed(t, fd)
	}
	tail, drained := ringQueues(t)
	return tail > m.tail && drained
}

// markTail is the sum of the io_uring submission queues' tails.
func markTail(t testing.TB) uint64 {
	tail, _ := ringQueues(t)
	return tail
}

// ringQueues sums SqTail over the process's io_uring instances and
// reports whether every one has SqHead == SqTail.
func ringQueues(t testing.TB) (tail uint64, drained bool) {
	drained = true
	eachAnonFD(t, "[io_uring]", func(info []byte) {
		head, tl := fdinfoField(info, "SqHead"), fdinfoField(info, "SqTail")
		tail += tl
		drained = drained && head == tl
	})
	return tail, drained
}

// epollArmed reports whether fd is in an epoll instance of the process
// with EPOLLIN or EPOLLOUT still set (a oneshot report clears them).
func epollArmed(t testing.TB, fd int) bool {
	armed := false
	want := fmt.Sprintf("tfd: %8d ", fd)
	eachAnonFD(t, "[eventpoll]", func(info []byte) {
		sc := bufio.NewScanner(bytes.NewReader(info))
		for sc.Scan() {
			ln := sc.Text()
			if !strings.HasPrefix(ln, want) {
				continue
			}
			f := strings.Fields(ln)
			for i := 0; i+1 < len(f); i++ {
				if f[i] == "events:" {
					ev, err := strconv.ParseUint(f[i+1], 16, 32)
					if err == nil && ev&(unix.EPOLLIN|unix.EPOLLOUT) != 0 {
						armed = true
					}
				}
			}
		}
	})
	return armed
}

// eachAnonFD calls f with the fdinfo of each descriptor of the process
// that is the anonymous inode named kind.
func eachAnonFD(t testing.TB, kind string, f func(info []byte)) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		link, err := os.Readlink("/proc/self/fd/" + ent.Name())
		if err != nil || link != "anon_inode:"+kind {
			continue // closed meanwhile, or another kind
		}
		info, err := os.ReadFile("/proc/self/fdinfo/" + ent.Name())
		if err != nil {
			continue
		}
		f(info)
	}
}

// fdinfoField is the numeric value of a "Name:\tvalue" line.
func fdinfoField(info []byte, name string) uint64 {
	i := bytes.Index(info, []byte("\n"+name+":"))
	if i < 0 {
		return 0
	}
	rest := info[i+len(name)+2:]
	if j := bytes.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	v, _ := strconv.ParseUint(strings.TrimSpace(string(rest)), 10, 64)
	return v
}

// WaitMsgsTaken waits, when e keeps a multishot receive armed (RecvMsg
// without the fallback), until the kernel has handed the engine every
// byte queued on the connected socket fd (SIOCINQ 0): what was written
// before is then in the engine's queue, not the socket's. Without a
// multishot nothing takes data before a RecvMsg asks, so it returns at
// once.
func WaitMsgsTaken(t testing.TB, e *Engine, fd int) {
	t.Helper()
	if !e.msgs.multishot {
		return
	}
	WaitUntil(t, fmt.Sprintf("the multishot receive takes what fd %d holds", fd), func() bool {
		n, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
		if err != nil {
			t.Fatalf("SIOCINQ on fd %d: %v", fd, err)
		}
		return n == 0
	})
}

// WaitConnsTaken waits, when e's Accept keeps a multishot ACCEPT armed,
// until the engine has taken the n connections made to the IPv4 listener
// lfd: /proc/net/tcp shows n established connections on its port and
// none left in its accept queue (a listener's rx_queue there). Without a
// multishot it returns at once.
func WaitConnsTaken(t testing.TB, e *Engine, lfd, n int) {
	t.Helper()
	if !e.msgs.msAccept {
		return
	}
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*unix.SockaddrInet4).Port
	WaitUntil(t, fmt.Sprintf("the multishot accept takes %d connections from port %d", n, port), func() bool {
		established, backlog := tcpPortState(t, port)
		return established >= n && backlog == 0
	})
}

// tcpPortState reads /proc/net/tcp: the established connections whose
// local port is port, and the accept queue of the listener on it.
func tcpPortState(t testing.TB, port int) (established, backlog int) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || !strings.HasSuffix(f[1], suffix) {
			continue
		}
		switch f[3] {
		case "01": // TCP_ESTABLISHED
			established++
		case "0A": // TCP_LISTEN: rx_queue is the accept queue's length
			if _, rx, ok := strings.Cut(f[4], ":"); ok {
				v, _ := strconv.ParseUint(rx, 16, 32)
				backlog = int(v)
			}
		}
	}
	return established, backlog
}
