package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// The soak's file work by name (issue 18's operations): each of n aios
// goes round its own few file names, and for each one opens it (OpenAt,
// creating and truncating it), gives it its size (Fallocate), writes one
// block, makes it durable (Fdatasync), checks the size by name (Statx),
// reads the block back and closes the descriptor (CloseFD), every step
// with a random timeout and open to the soak's random cancels. What must
// hold, whatever a timeout or a cancel did:
//   - an OpenAt that reports success has a descriptor (FD() >= 0), and
//     one that fails has none (FD() == -1): a cancelled open the kernel
//     finished anyway is a success, and its descriptor is the caller's;
//   - after a Fallocate that reported success the file is that long, and
//     a block whose write reported success reads back as written;
//   - no descriptor is leaked: every one an OpenAt reported is closed by
//     a CloseFD (which closes it even when a cancel or a timeout ends it)
//     or at shutdown, so the report's descriptor count stays flat.

const (
	soakNamedFiles  = 4  // names per aio
	soakNamedBlocks = 16 // the size Fallocate gives each file, in blocks
)

// startNamed runs n such aios in dir.
func (s *soak) startNamed(dir string, n int) {
	for i := 0; i < n; i++ {
		rng := rand.New(rand.NewPCG(uint64(i), 6))
		var (
			name      int    // which of the aio's names is in use
			path      string // its path
			fd        = -1   // the open descriptor, -1 when none
			step      string // the operation in flight
			allocated bool   // Fallocate reported success for this open
			written   bool   // the block's write reported success
			blk       int    // the block written
			version   int    // its content (soakPattern's v)
			st        unix.Statx_t
		)
		wbuf := make([]byte, soakBlock)
		rbuf := make([]byte, soakBlock)
		randomTimeout := func(a *aio.Aio) {
			a.SetTimeout(aio.Infinite)
			if rng.IntN(3) == 0 {
				a.SetTimeout(time.Duration(rng.IntN(2000)+1) * time.Microsecond)
			}
		}
		startOpen := func(a *aio.Aio) {
			name = (name + 1) % soakNamedFiles
			path = fmt.Sprintf("%s/named-%d-%d", dir, i, name)
			allocated, written = false, false
			randomTimeout(a)
			step = "OpenAt"
			a.OpenAt(unix.AT_FDCWD, path, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o600)
		}
		startClose := func(a *aio.Aio) {
			randomTimeout(a)
			step = "CloseFD"
			a.CloseFD(fd)
		}
		a := s.newAio(true, func(a *aio.Aio) {
			err := a.Result()
			s.st.result("named "+step, err)
			switch step {
			case "OpenAt":
				got := a.FD()
				if (err == nil) != (got >= 0) {
					s.st.fail(fmt.Sprintf("OpenAt: result %v with FD() %d", err, got))
				}
				if got >= 0 {
					fd = got
				}
			case "CloseFD":
				// Closed whatever the result: a cancel or a timeout
				// cannot leave the descriptor open (API.md).
				fd = -1
			}
			if s.stopping.Load() {
				if fd >= 0 {
					unix.Close(fd)
					fd = -1
				}
				return
			}
			if step == "OpenAt" {
				if err != nil {
					startOpen(a)
					return
				}
				randomTimeout(a)
				step = "Fallocate"
				a.Fallocate(fd, 0, 0, soakNamedBlocks*soakBlock)
				return
			}
			if step == "CloseFD" {
				startOpen(a)
				return
			}
			if err != nil {
				startClose(a)
				return
			}
			switch step {
			case "Fallocate":
				allocated = true
				blk, version = rng.IntN(soakNamedBlocks), rng.IntN(1000)+1
				soakPattern(wbuf, blk, version)
				randomTimeout(a)
				a.SetIOV(wbuf)
				step = "WriteAt"
				a.WriteAt(fd, int64(blk)*soakBlock)
			case "WriteAt":
				if a.Count() != soakBlock {
					s.st.fail(fmt.Sprintf("named WriteAt: short count %d", a.Count()))
				}
				written = true
				randomTimeout(a)
				step = "Fdatasync"
				a.Fdatasync(fd)
			case "Fdatasync":
				randomTimeout(a)
				step = "Statx"
				a.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_SIZE, &st)
			case "Statx":
				if allocated && st.Size != soakNamedBlocks*soakBlock {
					s.st.fail(fmt.Sprintf("Statx after Fallocate: size %d, want %d", st.Size, soakNamedBlocks*soakBlock))
				}
				randomTimeout(a)
				a.SetIOV(rbuf)
				step = "ReadAt"
				a.ReadAt(fd, int64(blk)*soakBlock)
			case "ReadAt":
				if written {
					soakPattern(wbuf, blk, version)
					if a.Count() != soakBlock || !bytes.Equal(rbuf, wbuf) {
						s.st.fail(fmt.Sprintf("named ReadAt: block %d does not read back as written (%d bytes)", blk, a.Count()))
					}
					s.st.namedVerified.Add(1)
				}
				startClose(a)
			default:
				s.st.fail("named: no step " + step)
			}
		})
		startOpen(a)
	}
}
