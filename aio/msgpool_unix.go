//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package aio

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/aioring/aioring/ring"
	"golang.org/x/sys/unix"
)

// msgGroup is the buffer group id of each ring's pool (one pool per ring,
// so one group suffices).
const msgGroup = 1

// ringPool is a ring's message buffers: one anonymous mapping of
// nbuf × size bytes (untouched pages cost no memory), published to the
// kernel through a provided-buffer ring, or, in fallback mode (no
// multishot receive), handed out by get for single-shot receives.
//
// Ownership: everything below mu is under mu. The mapping and the
// descriptors live until close, after the ring is closed.
type ringPool struct {
	ms   *msgEngine
	mem  []byte
	size int
	nbuf int

	// waiting counts receives stopped for lack of buffers (ENOBUFS, or a
	// fallback receive with no free buffer). Dekker-style with out: a
	// receive raises waiting and then reads out under mu; give lowers out
	// under mu and then reads waiting; so a returned buffer is never
	// missed by a receive that starves at the same moment.
	waiting atomic.Int32

	mu      sync.Mutex
	br      *ring.BufRing // nil in fallback mode
	out     int           // buffers not in the free set (kernel ring or list)
	handles []Msg
	hq      []uint32 // FIFO of free handle indexes (quarantine for stale *Msg)
	hhead   int
	hn      int
	free    []uint16 // fallback: free buffer ids
	closed  bool     // the ring is closed: the buffer ring is gone; the
	// mapping stays while Msgs are live (out > 0), and goes with the last Free
}

// newRingPool maps the buffers and, unless fallback, registers the
// provided-buffer ring on sh and publishes every buffer to it.
func newPool(ms *msgEngine, sh backend, nbuf, size int, fallback bool) (msgPool, error) {
	mem, err := unix.Mmap(-1, 0, nbuf*size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON|mapNoReserve)
	if err != nil {
		return nil, fmt.Errorf("aio: mapping %d message buffers of %d bytes: %w", nbuf, size, err)
	}
	p := &ringPool{ms: ms, mem: mem, size: size, nbuf: nbuf}
	// Twice as many handles as buffers: at most nbuf are live, so a freed
	// handle waits behind at least nbuf others before it is reused.
	p.handles = make([]Msg, 2*nbuf)
	p.hq = make([]uint32, 2*nbuf)
	for i := range p.handles {
		p.handles[i].pool = p
		p.handles[i].h = uint32(i)
		p.hq[i] = uint32(i)
	}
	p.hn = len(p.hq)
	if fallback {
		p.free = make([]uint16, nbuf)
		for i := range p.free {
			p.free[i] = uint16(nbuf - 1 - i)
		}
		return p, nil
	}
	rb, ok := sh.(ringer)
	if !ok {
		unix.Munmap(mem)
		return nil, fmt.Errorf("aio: a provided-buffer ring needs the io_uring backend: %w", ErrUnsupported)
	}
	br, err := rb.RegisterBufRing(uint32(nbuf), msgGroup)
	if err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	p.br = br
	for i := 0; i < nbuf; i++ {
		br.Add(p.addr(uint16(i)), uint32(size), uint16(i), i)
	}
	br.Advance(nbuf)
	return p, nil
}

func (p *ringPool) addr(bid uint16) uint64 {
	return uint64(uintptr(unsafe.Pointer(&p.mem[int(bid)*p.size])))
}

// handleLocked takes the oldest free handle for buffer bid.
func (p *ringPool) handleLocked(bid uint16, n int) *Msg {
	h := p.hq[p.hhead]
	p.hhead = (p.hhead + 1) % len(p.hq)
	p.hn--
	m := &p.handles[h]
	off := int(bid) * p.size
	m.buf = p.mem[off : off+p.size : off+p.size]
	m.bid, m.n, m.off, m.dgram, m.nameLen = bid, n, 0, false, 0
	p.out++
	return m
}

// releaseLocked puts m's buffer back in the free set and its handle at the
// end of the quarantine. After close, the last buffer back returns the
// mapping, for the caller to unmap once mu is released.
func (p *ringPool) releaseLocked(m *Msg) (unmap []byte) {
	p.out--
	if p.closed {
		m.buf = nil
		if p.out == 0 {
			unmap, p.mem = p.mem, nil
		}
		return unmap
	}
	if p.br != nil {
		p.br.Add(p.addr(m.bid), uint32(p.size), m.bid, 0)
		p.br.Advance(1)
	} else {
		p.free = append(p.free, m.bid)
	}
	m.buf = nil
	p.hq[(p.hhead+p.hn)%len(p.hq)] = m.h
	p.hn++
	return nil
}

// unmap releases a mapping releaseLocked or close gave up (no lock held).
func unmap(mem []byte) {
	if mem != nil {
		unix.Munmap(mem)
	}
}

func (p *ringPool) take(bid uint16, n int) *Msg {
	p.mu.Lock()
	m := p.handleLocked(bid, n)
	p.mu.Unlock()
	m.live.Store(true)
	return m
}

func (p *ringPool) get() *Msg {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) == 0 {
		return nil
	}
	bid := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	return p.handleLocked(bid, p.size)
}

func (p *ringPool) put(m *Msg) {
	m.live.Store(false)
	p.mu.Lock()
	mem := p.releaseLocked(m)
	p.mu.Unlock()
	unmap(mem)
}

func (p *ringPool) give(m *Msg) {
	p.mu.Lock()
	mem := p.releaseLocked(m)
	p.mu.Unlock()
	unmap(mem)
	// After out dropped (under mu): see waiting.
	if p.waiting.Load() > 0 {
		p.ms.buffersBack(p)
	}
}

func (p *ringPool) starve() bool {
	p.waiting.Add(1)
	p.mu.Lock()
	free := p.out < p.nbuf
	p.mu.Unlock()
	if free {
		p.waiting.Add(-1)
	}
	return !free
}

func (p *ringPool) fed() { p.waiting.Add(-1) }

func (p *ringPool) group() (uint16, bool) { return msgGroup, p.br != nil }

// close runs after the ring is closed. Messages the program still holds
// stay readable: the mapping goes with the last of them.
func (p *ringPool) close() {
	p.mu.Lock()
	p.closed = true
	br := p.br
	p.br = nil
	var mem []byte
	if p.out == 0 {
		mem, p.mem = p.mem, nil
	}
	p.mu.Unlock()
	if br != nil {
		br.Unmap()
	}
	unmap(mem)
}
