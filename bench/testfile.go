package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

const blockSize = 4096

// alignedBuffers returns n buffers of size bytes each, page aligned, from
// one anonymous mapping: O_DIRECT needs buffers aligned to the logical block
// size, which Go's allocator does not promise. The mapping is never
// unmapped; the child process that uses it exits after one case.
func alignedBuffers(n, size int) ([][]byte, error) {
	stride := (size + blockSize - 1) / blockSize * blockSize
	mem, err := unix.Mmap(-1, 0, n*stride, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mapping %d aligned buffers: %w", n, err)
	}
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = mem[i*stride : i*stride+size : i*stride+size]
	}
	return bufs, nil
}

// freeBytes is the space an unprivileged writer may still use in dir.
func freeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// createTestFile writes size bytes of random data to path and syncs it, so
// that every implementation reads the same bytes and O_DIRECT reads hit the
// device, not unwritten extents.
func createTestFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	src := rand.NewChaCha8([32]byte{'a', 'i', 'o', 'r', 'i', 'n', 'g'})
	buf := make([]byte, 4*miB)
	for left := size; left > 0; {
		n := min(int64(len(buf)), left)
		src.Read(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			if errors.Is(err, syscall.ENOSPC) {
				return fmt.Errorf("no room for the %d MiB test file: %w", size/miB, err)
			}
			return err
		}
		left -= n
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// directIOSupported reports whether the file system under path accepts
// O_DIRECT reads of 4 KiB aligned blocks, and if not, why.
func directIOSupported(path string) (bool, string) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Sprintf("O_DIRECT open fails here (%v)", err)
	}
	defer unix.Close(fd)
	bufs, err := alignedBuffers(1, blockSize)
	if err != nil {
		return false, err.Error()
	}
	defer unix.Munmap(bufs[0][:blockSize:blockSize])
	if _, err := unix.Pread(fd, bufs[0], 0); err != nil {
		return false, fmt.Sprintf("O_DIRECT reads fail here (%v)", err)
	}
	return true, ""
}

// warmPageCache reads the whole file so that cached reads find it resident.
func warmPageCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

// sameContents compares two files byte for byte.
func sameContents(a, b string) error {
	fa, err := os.Open(a)
	if err != nil {
		return err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return err
	}
	defer fb.Close()
	ba, bb := make([]byte, miB), make([]byte, miB)
	var off int64
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return fmt.Errorf("copy differs from the source in the MiB at offset %d", off)
		}
		off += int64(na)
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			if eb != ea {
				return fmt.Errorf("copy has a different length from the source")
			}
			return nil
		}
		if ea != nil {
			return ea
		}
		if eb != nil {
			return eb
		}
	}
}
