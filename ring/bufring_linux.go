//go:build linux

package ring

import (
	"fmt"
	"syscall"
	"unsafe"

	"github.com/aioring/aioring/internal/release"
	"golang.org/x/sys/unix"
)

// BufRing is a provided-buffer ring (IORING_REGISTER_PBUF_RING, 5.19): an
// array of struct io_uring_buf in memory shared with the kernel, from which
// the kernel picks a buffer when data arrives for a request carrying
// IOSQE_BUFFER_SELECT and the ring's group id.
//
// Ownership: the entries and the tail are ours to write; the kernel only
// reads them (its head is private). All methods must be called by one
// goroutine at a time (the caller's lock).
type BufRing struct {
	mem     []byte // page-aligned anonymous mapping of entries × 16 bytes
	bufs    []BufDesc
	tailPtr *uint16 // the u16 at byte 14: the resv field of bufs[0]
	tail    uint16  // our next slot; published with Advance
	mask    uint16
	group   uint16
}

// BufDesc is struct io_uring_buf (16 bytes).
type BufDesc struct {
	Addr uint64 // addr
	Len  uint32 // len
	Bid  uint16 // bid: reported back in the CQE's flags >> CQEBufferShift
	Resv uint16 // resv; in entry 0 it is the ring's tail
}

// bufReg is struct io_uring_buf_reg (40 bytes).
type bufReg struct {
	RingAddr    uint64 // ring_addr
	RingEntries uint32 // ring_entries: a power of two, at most MaxBufRingEntries
	Bgid        uint16 // bgid
	Flags       uint16 // flags (IOU_PBUF_RING_MMAP not used: we map the memory)
	Resv        [3]uint64
}

var _ [40 - unsafe.Sizeof(bufReg{})]byte
var _ [16 - unsafe.Sizeof(BufDesc{})]byte

// RegisterBufRing maps page-aligned memory for entries buffer descriptors
// and registers it as buffer group group. entries must be a power of two
// between 1 and MaxBufRingEntries. The ring starts empty: Add buffers, then
// Advance. Kernels before 5.19 answer EINVAL.
func (r *Ring) RegisterBufRing(entries uint32, group uint16) (*BufRing, error) {
	if entries == 0 || entries > MaxBufRingEntries || entries&(entries-1) != 0 {
		return nil, fmt.Errorf("io_uring: buffer ring entries %d: a power of two up to %d: %w", entries, MaxBufRingEntries, syscall.EINVAL)
	}
	size := int(entries) * int(unsafe.Sizeof(BufDesc{}))
	// mmap returns page-aligned memory, which the kernel requires of a
	// ring it does not map itself.
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("io_uring: mapping a buffer ring: %w", err)
	}
	reg := bufReg{RingAddr: uint64(uintptr(unsafe.Pointer(&mem[0]))), RingEntries: entries, Bgid: group}
	if _, err := r.register(registerPbufRing, unsafe.Pointer(&reg), 1); err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	br := &BufRing{mem: mem, mask: uint16(entries - 1), group: group}
	br.bufs = unsafe.Slice((*BufDesc)(unsafe.Pointer(&mem[0])), entries)
	br.tailPtr = (*uint16)(unsafe.Add(unsafe.Pointer(&mem[0]), 14))
	return br, nil
}

// UnregisterBufRing removes br from r (IORING_UNREGISTER_PBUF_RING) and
// unmaps its descriptors. No request that selects from it may be pending.
func (r *Ring) UnregisterBufRing(br *BufRing) error {
	reg := bufReg{Bgid: br.group}
	_, err := r.register(unregisterPbufRing, unsafe.Pointer(&reg), 1)
	if err == nil {
		br.Unmap()
	}
	return err
}

// Unmap releases the descriptor memory once the ring it was registered with
// is closed (closing the ring unregisters it).
func (br *BufRing) Unmap() {
	if br.mem != nil {
		unix.Munmap(br.mem)
		br.mem, br.bufs, br.tailPtr = nil, nil, nil
	}
}

// Group returns the buffer group id.
func (br *BufRing) Group() uint16 { return br.group }

// Add writes a buffer descriptor into the next free slot, after the ones
// added since the last Advance. It is invisible to the kernel until
// Advance. The memory at addr must stay valid while the kernel may use it.
func (br *BufRing) Add(addr uint64, n uint32, bid uint16, pending int) {
	d := &br.bufs[(br.tail+uint16(pending))&br.mask]
	d.Addr, d.Len, d.Bid = addr, n, bid
	// Resv is left alone: in entry 0 it is the tail itself.
}

// Advance publishes n descriptors written by Add.
func (br *BufRing) Advance(n int) {
	br.tail += uint16(n)
	// Store-release of the tail: the descriptors written above are visible
	// before the kernel can see the new tail (io_uring_smp_store_release in
	// liburing's io_uring_buf_ring_advance). Go has no 16-bit atomic
	// store, so the aligned 32-bit word of bytes 12..15 is stored whole:
	// bytes 12..13 are entry 0's bid, which only we write. A release
	// store as the SQ tail's (internal/release): one goroutine at a time
	// advances a BufRing, and no load after it needs ordering.
	word := (*uint32)(unsafe.Add(unsafe.Pointer(br.tailPtr), -2))
	bid0 := *(*uint16)(unsafe.Pointer(word))
	release.Store32(word, uint32(bid0)|uint32(br.tail)<<16)
}
