//go:build linux

package completion

// The epoll instance through which the seated reaper waits for the ring
// on Go's netpoller (the design notes are in shard_linux.go).

import (
	"os"

	"golang.org/x/sys/unix"
)

// registerPoller makes the epoll instance through which the seated
// reaper waits. The ring fd is in it with EPOLLONESHOT, and the epoll fd is
// on Go's netpoller: the ring then wakes the netpoller only between an arm
// and the reaper taking the event off the epoll fd (right after it
// wakes), where a ring fd registered directly would wake a thread blocked in
// the netpoller for every CQE posted, even those the seated reaper or a
// caller reaps a moment later (measured: +110 ns per NOP with GOMAXPROCS=1
// and +160 ns with 2, plus the other core's wakeup, with the ring fd
// registered; see docs/design.md). The ring fd polls readable while the
// CQ holds entries (rings without DEFER_TASKRUN).
func (s *Shard) registerPoller() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, s.r.Fd(), &ev); err != nil {
		unix.Close(epfd)
		return err
	}
	s.inEpoll = true
	// Non-blocking, so os.NewFile registers it with the netpoller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return err
	}
	s.pollFile = os.NewFile(uintptr(epfd), "io_uring-epoll")
	s.pollConn, err = s.pollFile.SyscallConn()
	if err != nil {
		s.pollFile.Close()
	}
	return err
}

// arm (re-)enables the ring fd's one-shot event before the seated reaper
// parks, every time: the reaper disarmed it by taking the last event off
// the epoll instance (harvestFn). EPOLL_CTL_MOD checks readiness at once,
// so a CQE posted before the arm still fires. It reports false once Close
// has closed the epoll fd. The epoll fd is used through RawConn.Control,
// which holds it open meanwhile, so a concurrent Close can never make us
// touch a reused descriptor number.
func (s *Shard) arm() bool {
	s.epOp = unix.EPOLL_CTL_MOD
	if !s.inEpoll {
		s.epOp = unix.EPOLL_CTL_ADD
	}
	if err := s.pollConn.Control(s.epCtl); err != nil {
		return false // closed
	}
	if s.epErr != nil {
		// Cannot happen for our own descriptors short of running out of
		// kernel memory; waiting unarmed could hang, so fail loudly.
		panic("completion: arming the ring's epoll event: " + s.epErr.Error())
	}
	s.inEpoll = true
	return true
}

// unwatch takes the ring fd out of the epoll instance while the seated
// reaper waits off the ring: even a disarmed epoll entry stays on the
// ring's wait queue, and the kernel calls it for every CQE (measured,
// GOMAXPROCS=1: Nop+Wait 0.80-0.81 µs with the entry left there, 0.56 µs
// with it removed; the raw ring 0.46-0.47 µs).
func (s *Shard) unwatch() {
	if !s.inEpoll {
		return
	}
	s.epOp = unix.EPOLL_CTL_DEL
	if s.pollConn.Control(s.epCtl) == nil && s.epErr == nil {
		s.inEpoll = false
	}
}

// epollCtl applies epOp to the ring fd in the epoll instance epfd; made
// once (as s.epCtl) so that passing it to Control never allocates.
func (s *Shard) epollCtl(epfd uintptr) {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT}
	s.epErr = unix.EpollCtl(int(epfd), s.epOp, s.r.Fd(), &ev)
}
