//go:build linux

// Command du prints the disk usage of each PATH: the apparent size of
// everything under it in bytes, as du -s --apparent-size --block-size=1
// does (hard links counted once, symbolic links not followed). As du, with
// several PATHs each file and directory is counted once over all of them: a
// PATH inside an earlier one adds only what was not counted yet, and a
// PATH wholly counted already gets no line.
//
//	du [-n N] PATH...
//
// Directories are listed as the standard library lists them (os.File's
// ReadDir, on a few goroutines), and every entry found is stat-ed through
// the engine: N Aios (64 by default) each run a chain of callbacks, a
// Statx of the next path waiting in the queue from the callback of the
// last, so N statx calls are in flight with no goroutine per entry. A
// directory the Statx finds goes back to the listers.
//
// An entry that cannot be read or stat-ed is reported on standard error
// and left out of the total, and the exit status is 1, as with du; a PATH
// that does not exist gets no total line.
package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

func main() {
	n := flag.Int("n", 64, "Statx calls in flight")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: du [-n N] PATH...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 || *n < 1 {
		flag.Usage()
		os.Exit(2)
	}
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "du:", err)
		os.Exit(1)
	}
	status := 0
	seen := make(map[fileKey]bool)
	all := flag.NArg() > 1
	for _, p := range flag.Args() {
		if _, err := os.Lstat(p); err != nil {
			// As du: a PATH that is not there gets no total line.
			fmt.Fprintf(os.Stderr, "du: cannot access %s: %v\n", p, unwrapPath(err))
			status = 1
			continue
		}
		total, errs, counted := usage(e, p, *n, os.Stderr, seen, all)
		if errs > 0 {
			status = 1
		}
		if counted {
			fmt.Printf("%d\t%s\n", total, p)
		}
	}
	e.Close()
	os.Exit(status)
}

// unwrapPath is err without the *fs.PathError's "lstat PATH: " prefix,
// which the message names already.
func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// listers is how many goroutines list directories at once: reading a
// directory blocks its thread, as in the standard library.
const listers = 4

// Usage returns the apparent size in bytes of everything under root (root
// included), with inflight Statx calls at once, and how many entries
// failed (reported on errw).
func Usage(e *aio.Engine, root string, inflight int, errw io.Writer) (total int64, failed int) {
	total, failed, _ = usage(e, root, inflight, errw, make(map[fileKey]bool), false)
	return total, failed
}

// usage is Usage counting each file in seen once, across calls: files
// with several links, and with all every file and directory (du's rule
// for several PATHs). counted is false when root itself was seen before.
func usage(e *aio.Engine, root string, inflight int, errw io.Writer, seen map[fileKey]bool, all bool) (total int64, failed int, counted bool) {
	w := &walk{errw: errw, seen: seen, all: all, root: root, rootCounted: true}
	w.dirCond.L = &w.mu
	w.pending.Add(1)
	w.paths = append(w.paths, root)
	for i := 0; i < inflight; i++ {
		s := &statter{w: w}
		s.a = e.NewAio(s.done)
		s.a.SetTimeout(aio.Infinite)
		w.idle = append(w.idle, s)
	}
	var lw sync.WaitGroup
	for i := 0; i < listers; i++ {
		lw.Add(1)
		go func() {
			defer lw.Done()
			w.lister()
		}()
	}
	w.kick()
	w.pending.Wait() // every path stat-ed, every directory listed
	w.mu.Lock()
	w.finished = true
	w.dirCond.Broadcast()
	w.mu.Unlock()
	lw.Wait()
	for _, s := range w.idle {
		s.a.Free()
	}
	return w.total, w.failed, w.rootCounted
}

// fileKey names a file (an inode) for counting hard links once.
type fileKey struct{ dev, ino uint64 }

// walk is one Usage call's state.
type walk struct {
	errw io.Writer
	// pending counts paths queued or being stat-ed and directories
	// queued or being listed: zero means the walk is over.
	pending sync.WaitGroup

	mu       sync.Mutex
	paths    []string   // to stat
	idle     []*statter // Aios with nothing to do
	dirs     []string   // to list
	dirCond  sync.Cond  // a directory queued, or finished
	finished bool
	total    int64
	failed   int
	seen     map[fileKey]bool // files with more than one link (with all, every entry), counted
	all      bool             // count every file and directory once, not only those with links
	root     string
	// rootCounted is false when root was counted by an earlier walk
	// sharing seen.
	rootCounted bool
}

// statter is one Aio and the Statx it runs.
type statter struct {
	w    *walk
	a    *aio.Aio
	path string
	st   unix.Statx_t
}

// add queues paths for Statx and starts idle Aios on them.
func (w *walk) add(paths []string) {
	w.pending.Add(len(paths))
	w.mu.Lock()
	w.paths = append(w.paths, paths...)
	w.mu.Unlock()
	w.kick()
}

// kick starts idle Aios on queued paths.
func (w *walk) kick() {
	for {
		w.mu.Lock()
		if len(w.paths) == 0 || len(w.idle) == 0 {
			w.mu.Unlock()
			return
		}
		s := w.idle[len(w.idle)-1]
		w.idle = w.idle[:len(w.idle)-1]
		s.path = w.pop()
		w.mu.Unlock()
		s.start()
	}
}

// pop takes the next queued path (w.mu held, the queue not empty). Last
// in, first out: the walk goes deep first, which keeps the queue short.
func (w *walk) pop() string {
	p := w.paths[len(w.paths)-1]
	w.paths = w.paths[:len(w.paths)-1]
	return p
}

func (s *statter) start() {
	s.a.Statx(unix.AT_FDCWD, s.path, unix.AT_SYMLINK_NOFOLLOW,
		unix.STATX_TYPE|unix.STATX_SIZE|unix.STATX_INO|unix.STATX_NLINK, &s.st)
}

// done is the Aio's callback: it counts the entry, hands a directory to
// the listers, and goes on with the next queued path, or goes idle.
func (s *statter) done(a *aio.Aio) {
	w := s.w
	w.mu.Lock()
	if err := a.Result(); err != nil {
		w.failed++
		fmt.Fprintf(w.errw, "du: cannot stat %s: %v\n", s.path, err)
	} else if !w.count(&s.st) {
		if s.path == w.root {
			w.rootCounted = false
		}
	} else {
		if s.st.Mode&unix.S_IFMT == unix.S_IFDIR {
			w.pending.Add(1)
			w.dirs = append(w.dirs, s.path)
			w.dirCond.Signal()
		}
	}
	next := len(w.paths) > 0
	if next {
		s.path = w.pop()
	} else {
		w.idle = append(w.idle, s)
	}
	w.mu.Unlock()
	if next {
		s.start()
	}
	w.pending.Done() // after any directory or next path was counted
}

// count adds an entry's size, once per file (w.mu held); false means it
// was counted already (a directory then is not listed again).
func (w *walk) count(st *unix.Statx_t) bool {
	if w.all || (st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR) {
		k := fileKey{uint64(st.Dev_major)<<32 | uint64(st.Dev_minor), st.Ino}
		if w.seen[k] {
			return false
		}
		w.seen[k] = true
	}
	w.total += int64(st.Size)
	return true
}

// lister lists queued directories until the walk is finished.
func (w *walk) lister() {
	for {
		w.mu.Lock()
		for len(w.dirs) == 0 && !w.finished {
			w.dirCond.Wait()
		}
		if len(w.dirs) == 0 {
			w.mu.Unlock()
			return
		}
		dir := w.dirs[len(w.dirs)-1]
		w.dirs = w.dirs[:len(w.dirs)-1]
		w.mu.Unlock()
		w.list(dir)
		w.pending.Done()
	}
}

// list reads dir's names as the standard library does (os.File.ReadDir,
// in batches) and queues them for Statx.
func (w *walk) list(dir string) {
	f, err := os.Open(dir)
	if err != nil {
		w.fail(err)
		return
	}
	defer f.Close()
	for {
		ents, err := f.ReadDir(1024)
		if len(ents) > 0 {
			paths := make([]string, len(ents))
			for i, d := range ents {
				paths[i] = filepath.Join(dir, d.Name())
			}
			w.add(paths)
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			w.fail(err)
			return
		}
	}
}

func (w *walk) fail(err error) {
	w.mu.Lock()
	w.failed++
	fmt.Fprintf(w.errw, "du: %v\n", err)
	w.mu.Unlock()
}
