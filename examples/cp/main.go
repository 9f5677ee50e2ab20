//go:build linux

// Command cp copies a file or a directory tree through the aio engine.
//
//	cp [-n N] [-bs BYTES] [-direct] [-progress auto|on|off] SRC DST
//
// A file is cut into blocks, and -n Aios copy blocks at once, each one
// reading its block and then writing it at the same offset (a chain of
// callbacks: read, finish a short read, write, finish a short write, take
// the next block). -direct opens both files with O_DIRECT, bypassing the
// page cache, where the file system allows it. On a terminal a progress bar
// is drawn on standard error.
//
// The copy is all or nothing under the destination's name: data goes to a
// temporary file (a temporary directory, for a tree) next to the
// destination, is fsynced, and only then renamed into place, and the
// directory is fsynced after the rename. A copy that fails, or that
// SIGINT or SIGTERM stops, removes its temporary file and leaves whatever
// was at the destination untouched.
//
// The engine does the file work too: files are opened with OpenAt, the
// destination's blocks are reserved with Fallocate before the copy, and its
// data is flushed with Fdatasync before the rename.
//
// As with cp -r, a DST that is an existing directory receives SRC under its
// own base name; an existing file at DST is replaced.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

type options struct {
	inflight int
	bs       int
	direct   bool
}

// run is the whole program; the test calls it too. It returns the exit
// status.
func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("cp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.inflight, "n", 8, "blocks in flight (reads and writes)")
	fs.IntVar(&o.bs, "bs", 256<<10, "block size in bytes (rounded up to 4096 with -direct)")
	fs.BoolVar(&o.direct, "direct", false, "open files with O_DIRECT where the file system allows it")
	prog := fs.String("progress", "auto", "progress bar: auto (when stderr is a terminal), on or off")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: cp [flags] SRC DST")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 2 || o.inflight < 1 || o.bs < 1 {
		fs.Usage()
		return 2
	}
	if o.bs > aio.MaxMsgBufferSize {
		fmt.Fprintf(stderr, "cp: -bs %d: at most %d (the kernel's largest single transfer)\n", o.bs, aio.MaxMsgBufferSize)
		return 2
	}
	if *prog != "auto" && *prog != "on" && *prog != "off" {
		fmt.Fprintf(stderr, "cp: -progress %q: choose auto, on or off\n", *prog)
		return 2
	}
	if o.direct {
		o.bs = alignUp(o.bs, directAlign)
	}
	showBar := *prog == "on" || (*prog == "auto" && isTerminal(stderr))

	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		fmt.Fprintln(stderr, "cp:", err)
		return 1
	}
	defer e.Close()

	// SIGINT or SIGTERM fails the copy as any failure does: the temporary
	// file or tree goes, and nothing appears under DST.
	tmps := &temps{paths: map[string]bool{}}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case s := <-sig:
			tmps.removeAllAndExit()
			fmt.Fprintf(stderr, "cp: %v: stopped, nothing copied to %s\n", s, fs.Arg(1))
			os.Exit(130)
		case <-done:
		}
	}()

	if err := copyPath(e, tmps, fs.Arg(0), fs.Arg(1), o, stderr, showBar); err != nil {
		fmt.Fprintln(stderr, "cp:", err)
		return 1
	}
	return 0
}

// copyPath copies src (a file or a tree) to dst.
func copyPath(e *aio.Engine, tmps *temps, src, dst string, o options, stderr io.Writer, showBar bool) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if di, err := os.Stat(dst); err == nil && di.IsDir() {
		dst = filepath.Join(dst, filepath.Base(src))
	}
	if fi.IsDir() {
		if err := notInside(src, fi, dst); err != nil {
			return err
		}
	}
	total, err := treeSize(src, fi)
	if err != nil {
		return err
	}
	bar := newProgress(stderr, total, showBar)
	defer bar.stop()
	c := &copier{e: e, o: o, bar: bar, temps: tmps}
	switch {
	case fi.Mode().IsRegular():
		return c.copyFile(src, dst, fi.Mode().Perm())
	case fi.IsDir():
		return c.copyTree(src, dst)
	}
	return fmt.Errorf("%s: not a regular file or a directory", src)
}

// notInside fails when dst would be inside the directory src (fi): a copy
// of a tree into itself would walk its own growing copy.
func notInside(src string, fi os.FileInfo, dst string) error {
	p, err := filepath.Abs(filepath.Dir(dst))
	if err == nil {
		p, err = filepath.EvalSymlinks(p)
	}
	if err != nil {
		return nil // no such parent: creating the copy there fails and says so
	}
	for {
		if pi, err := os.Stat(p); err == nil && os.SameFile(pi, fi) {
			return fmt.Errorf("cannot copy a directory, %s, into itself, %s", src, dst)
		}
		up := filepath.Dir(p)
		if up == p {
			return nil
		}
		p = up
	}
}

// copier holds what every file copy of one run shares.
type copier struct {
	e     *aio.Engine
	o     options
	bar   *progress
	temps *temps
}

// temps are the temporary files and trees of a copy, for removing them
// when a signal stops it. Each is created and renamed into place under mu,
// so the signal's removal never races either.
type temps struct {
	mu    sync.Mutex
	paths map[string]bool
}

// create runs mk, which creates the temporary path, and records it.
func (t *temps) create(path string, mk func() error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := mk(); err != nil {
		return err
	}
	t.paths[path] = true
	return nil
}

// remove removes a temporary path of a failed copy.
func (t *temps) remove(path string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	os.RemoveAll(path)
	delete(t.paths, path)
}

// rename moves a complete temporary path to its final name.
func (t *temps) rename(path, final string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := os.Rename(path, final); err != nil {
		return err
	}
	delete(t.paths, path)
	return nil
}

// removeAllAndExit removes every temporary path and keeps mu, so that no
// other is created or renamed before the process exits.
func (t *temps) removeAllAndExit() {
	t.mu.Lock()
	for p := range t.paths {
		os.RemoveAll(p)
	}
}

// syncDir fsyncs a directory, making a rename in it durable.
func (c *copier) syncDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	if err := fsync(c.e, fd); err != nil {
		return &os.PathError{Op: "fsync", Path: dir, Err: err}
	}
	return nil
}

// run starts one engine operation with start on a fresh Aio, waits for it
// and returns its result (start may Wait and read the Aio's outputs).
func (c *copier) run(start func(a *aio.Aio)) error {
	a := c.e.NewAio(nil)
	defer a.Free()
	a.SetTimeout(aio.Infinite)
	start(a)
	a.Wait()
	return a.Result()
}

// fsync runs one engine Fsync and waits for it.
func fsync(e *aio.Engine, fd int) error {
	a := e.NewAio(nil)
	defer a.Free()
	a.SetTimeout(aio.Infinite)
	a.Fsync(fd)
	a.Wait()
	return a.Result()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

var (
	errShrank = errors.New("the source file shrank during the copy")
	errGrew   = errors.New("the source file holds more than its size says: it grew during the copy, or its size is not known ahead (as /proc's files)")
)
