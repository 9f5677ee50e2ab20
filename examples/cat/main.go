//go:build linux

// Command cat prints files to standard output, reading them through the aio
// engine with several ReadAt operations in flight.
//
//	cat [-inflight N] [-chunk BYTES] FILE...
//
// Each file is cut into chunks. Up to -inflight Aios each read one chunk at
// its own offset at the same time; the chunks are written out in file order
// as they are waited for, and each Aio that has delivered its chunk goes on
// to the next unread one. A short read (possible for any read, not only at
// the end) is finished before the chunk is written; a chunk that ends short
// of its size marks the end of the file. A FILE that is not a regular file
// or a block device (a pipe, a FIFO, a terminal, /dev/stdin) has no
// offsets to read at, so it is read as a stream by one Aio, chunk after
// chunk, until the end of its data.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is the whole program, taking its arguments and output streams so the
// test can call it; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	inflight := fs.Int("inflight", 4, "reads in flight per file")
	chunk := fs.Int("chunk", 128<<10, "bytes per read")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: cat [-inflight N] [-chunk BYTES] FILE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if *inflight < 1 || *chunk < 1 {
		fmt.Fprintln(stderr, "cat: -inflight and -chunk must be positive")
		return 2
	}
	if *chunk > aio.MaxMsgBufferSize {
		fmt.Fprintf(stderr, "cat: -chunk %d: at most %d (the kernel's largest single read)\n", *chunk, aio.MaxMsgBufferSize)
		return 2
	}
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		fmt.Fprintln(stderr, "cat:", err)
		return 1
	}
	defer e.Close()

	status := 0
	for _, name := range fs.Args() {
		if err := catFile(e, name, stdout, *inflight, *chunk); err != nil {
			fmt.Fprintf(stderr, "cat: %s: %v\n", name, err)
			status = 1
		}
	}
	return status
}

// reader is one Aio and the chunk it is reading.
type reader struct {
	a   *aio.Aio
	buf []byte
	off int64
}

func catFile(e *aio.Engine, name string, out io.Writer, inflight, chunk int) error {
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return errors.New("is a directory")
	case unix.S_IFBLK:
	case unix.S_IFREG:
		// More readers than the file has chunks would only hold memory
		// (a file whose size says 0, as /proc's, gets one).
		if chunks := st.Size/int64(chunk) + 1; chunks < int64(inflight) {
			inflight = int(chunks)
		}
	default:
		return catStream(e, fd, out, chunk)
	}

	rs := make([]*reader, inflight)
	for i := range rs {
		rs[i] = &reader{a: e.NewAio(nil), buf: make([]byte, chunk)}
		rs[i].a.SetTimeout(aio.Infinite)
	}
	// Every reader must be idle before the buffers and the descriptor go:
	// Free waits for a read still in flight after an early return.
	defer func() {
		for _, r := range rs {
			r.a.Free()
		}
	}()

	next := int64(0)
	start := func(r *reader) {
		r.off = next
		next += int64(chunk)
		r.a.SetIOV(r.buf)
		r.a.ReadAt(fd, r.off)
	}
	for _, r := range rs {
		start(r)
	}
	// Chunk k is read by rs[k % inflight]: waiting on them in turn
	// yields the file in order.
	for k := 0; ; k++ {
		r := rs[k%inflight]
		r.a.Wait()
		got, err := r.a.Count(), r.a.Result()
		// Finish a short read: the chunk is complete only when full or
		// when the file ends inside it.
		for err == nil && got < chunk && r.a.Count() > 0 {
			r.a.SetIOV(r.buf[got:])
			r.a.ReadAt(fd, r.off+int64(got))
			r.a.Wait()
			got, err = got+r.a.Count(), r.a.Result()
		}
		if err != nil {
			if errors.Is(err, unix.EISDIR) {
				return errors.New("is a directory")
			}
			return err
		}
		if _, err := out.Write(r.buf[:got]); err != nil {
			return err
		}
		if got < chunk {
			return nil // end of file; the deferred Free collects the rest
		}
		start(r)
	}
}

// catStream copies a descriptor without offsets (a pipe, a FIFO, a
// terminal) with one Aio reading from its current position: reads in
// flight at once would take its bytes in the order they complete. A short
// read is not the end here; a read of nothing is.
func catStream(e *aio.Engine, fd int, out io.Writer, chunk int) error {
	a := e.NewAio(nil)
	defer a.Free()
	a.SetTimeout(aio.Infinite)
	buf := make([]byte, chunk)
	for {
		a.SetIOV(buf)
		a.ReadAt(fd, -1)
		a.Wait()
		if err := a.Result(); err != nil {
			return err
		}
		n := a.Count()
		if n == 0 {
			return nil
		}
		if _, err := out.Write(buf[:n]); err != nil {
			return err
		}
	}
}
