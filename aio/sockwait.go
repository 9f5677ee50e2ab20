package aio

// Blocking socket transfers on a ring engine go through readiness, not the
// ring (docs/design.md, decision 40).
//
// A Recv or Send of an Aio without a callback is waited for by its
// starter (adapt.Conn's Read and Write, a Wait after the start). On this
// kernel, a receive the ring must wait for costs a task_work on the thread
// that submitted it: when data arrives the kernel wakes or interrupts that
// thread (whichever Go thread happened to run the starter), which then
// takes the socket's lock while the sender still holds it. net/http over
// adapt spent about 7 µs of kernel time per request there. The same wait
// through epoll is a wake of whoever polls. So such a transfer is carried
// out as the portable backend does it: one non-blocking system call on the
// starter and, when it would block, a one-shot readiness wait in an epoll
// instance parked on Go's netpoller. The portable backend that does this
// for a ring engine is started on its first such transfer.
//
// A transfer with a callback stays on the ring: a chain of them started
// from callbacks is submitted in batches by the reaper that ran them,
// whose thread the task_work then finds running (tcp-echo measured the
// ring as fast as readiness there, in one quiet run each). So do
// transfers on registered descriptors or into registered buffers and
// zero-copy sends, which only the ring carries as asked, and sends of a
// Msg, whose memory is the ring's pool (not measured by readiness).
// Config.RingOnly keeps every transfer on the ring.
//
// Which backend runs an Aio's current operation is a.onPort, set under
// Aio.mu by the start and read by whatever cancels or waits for it
// (opBackend); callbacks and their hand-offs stay with a.sh, which a
// transfer without a callback never uses.

import (
	"sync"
	"sync/atomic"

	"github.com/aioring/aioring/internal/portable"
)

// sockPort is a ring engine's portable backend for blocking socket
// transfers. started is read without a lock on every start that may use
// it; the backend is made once, under mu, and closed by Close once every
// Aio is idle, after which none is made.
type sockPort struct {
	on      bool // this engine routes blocking transfers here (a ring engine without RingOnly)
	mu      sync.Mutex
	started atomic.Pointer[portable.Backend]
	refused bool // Close has run: no backend is made any more; under mu
}

// endPortWaiters ends, with ErrClosed, the operations waiting for fd's
// readiness on a portable backend: the engine's own (the portable
// engine) and the readiness backend of a ring engine's blocking
// transfers. Their poller would drop the closed descriptor without a
// report. On a ring the multishot states end theirs (endFD's drop), and
// a ring request holds its file, so nothing waits unreported there.
func (e *Engine) endPortWaiters(fd int) {
	if e.backend == BackendPortable {
		for _, sh := range e.shards {
			if p, ok := sh.(*portable.Backend); ok {
				p.EndWaiters(int32(fd))
			}
		}
	}
	if p := e.port.started.Load(); p != nil {
		p.EndWaiters(int32(fd))
	}
}

// mayUsePort reports whether an operation of kind may go to the engine's
// readiness backend; if so, the backend is started here, before the start
// takes mu (no blocking system call runs under an Aio's lock).
func (a *Aio) mayUsePort(kind opKind) bool {
	if !a.e.port.on || a.cb != nil || (kind != opRecv && kind != opSend) {
		return false
	}
	return a.e.startPort() != nil
}

// onPortLocked reports whether the operation a.desc describes goes to the
// engine's readiness backend; called by the start under mu once the
// description is complete (buildLocked, zeroCopyLocked, fixedLocked).
// mayUse is mayUsePort's answer for this start: true only once the
// backend has started, and a started backend stays in e.port.started.
func (a *Aio) onPortLocked(mayUse bool) bool {
	if !mayUse {
		return false
	}
	if a.desc.ZeroCopy || a.fixed.file != nil || a.fixed.buf != nil || a.fixed.nvec != 0 {
		return false
	}
	return a.x == nil || a.x.attached == nil
}

// opBackend is the backend carrying a's current operation: its ring, or
// for a blocking socket transfer the engine's readiness backend. Called
// with mu held (the start returns it to its submission: queueKernelLocked).
// onPort is set only after the backend started (onPortLocked).
func (a *Aio) opBackend() backend {
	if a.onPort {
		return a.e.port.started.Load()
	}
	return a.sh
}

// startPort returns the engine's readiness backend, starting it on first
// use; nil if it cannot be started (the transfer then stays on the ring)
// or the engine has closed it.
func (e *Engine) startPort() *portable.Backend {
	if p := e.port.started.Load(); p != nil {
		return p
	}
	e.port.mu.Lock()
	defer e.port.mu.Unlock()
	if p := e.port.started.Load(); p != nil || e.port.refused {
		return p
	}
	p, err := portable.Start((*engineHandler)(e), e.clock.now, e.cfg.Callbacks, 0) // no busy poll: its waiters are goroutines, not a seat's chains
	if err != nil {
		return nil
	}
	e.port.started.Store(p)
	return p
}

// closePort closes the readiness backend, if one was started; Close calls
// it once every Aio is idle.
func (e *Engine) closePort() error {
	e.port.mu.Lock()
	defer e.port.mu.Unlock()
	e.port.refused = true
	if p := e.port.started.Load(); p != nil {
		return p.Close()
	}
	return nil
}
