package main

// Files by name (issue 18): the scenarios files (read a tree of small
// files whole), stat (statx of many paths) and log (durable appends with
// group commit), aioring against the standard library.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

const (
	scenFiles = "files"
	scenStat  = "stat"
	scenLog   = "log"

	caseWarm = "warm"
	caseCold = "cold"

	filesPerDir   = 100      // files per directory in the generated trees
	treeFileMin   = 1 * kiB  // the files scenario's sizes: [min, max]
	treeFileMax   = 64 * kiB //
	filesInFlight = 64       // files (stat: paths) in flight, both implementations
	dropCaches    = "/proc/sys/vm/drop_caches"
)

// treePath is file i of a generated tree under root: root/dNNN/fNNNNNN.
func treePath(root string, i int) string {
	return filepath.Join(root, "d"+strconv.Itoa(i/filesPerDir), "f"+strconv.Itoa(i))
}

// treePaths lists a generated tree's n paths.
func treePaths(root string, n int) []string {
	p := make([]string, n)
	for i := range p {
		p[i] = treePath(root, i)
	}
	return p
}

// makeTree writes n files under root, of sizes drawn in [min, max] (all
// empty when max is 0), and returns their total size. The files are synced
// once (syncfs), so a dropped page cache really reads from the device.
func makeTree(root string, n, minSize, maxSize int) (int64, error) {
	rng := rand.New(rand.NewPCG(uint64(n), 18))
	buf := make([]byte, maxSize)
	for i := range buf {
		buf[i] = byte(i*7 + i>>8)
	}
	var total int64
	for i := 0; i < n; i++ {
		if i%filesPerDir == 0 {
			if err := os.MkdirAll(filepath.Dir(treePath(root, i)), 0o755); err != nil {
				return 0, err
			}
		}
		size := 0
		if maxSize > 0 {
			size = minSize + rng.IntN(maxSize-minSize+1)
		}
		if err := os.WriteFile(treePath(root, i), buf[:size], 0o644); err != nil {
			return 0, err
		}
		total += int64(size)
	}
	if fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		unix.Syncfs(fd)
		unix.Close(fd)
	}
	return total, nil
}

// canDropCaches says whether this process may drop the page cache, and
// why not.
func canDropCaches() (bool, string) {
	if os.Geteuid() != 0 {
		return false, "dropping the page cache (" + dropCaches + ") needs root; run the bench as root for the cold case"
	}
	f, err := os.OpenFile(dropCaches, os.O_WRONLY, 0)
	if err != nil {
		return false, "cannot open " + dropCaches + ": " + err.Error()
	}
	f.Close()
	return true, ""
}

// dropPageCache writes back dirty pages and drops the clean ones, the
// dentries and the inodes, so the next reads go to the device.
func dropPageCache() error {
	unix.Sync()
	return os.WriteFile(dropCaches, []byte("3\n"), 0)
}

// runFileScenario measures the files, stat and log scenarios (suite side).
func (s *suite) runFileScenario(name string) error {
	switch name {
	case scenFiles:
		root := filepath.Join(s.dir, "tree")
		if s.treeBytes == 0 {
			s.progress("writing %d files of %d-%d KiB in %s", s.p.treeFiles, treeFileMin/kiB, treeFileMax/kiB, root)
			total, err := makeTree(root, s.p.treeFiles, treeFileMin, treeFileMax)
			if err != nil {
				return fmt.Errorf("writing the files scenario's tree: %w", err)
			}
			s.treeBytes = total
		}
		for _, c := range []string{caseWarm, caseCold} {
			base := spec{Scenario: scenFiles, Case: c, File: root, Files: s.p.treeFiles, FileSize: s.treeBytes,
				Depth: filesInFlight, Cold: c == caseCold}
			if c == caseCold {
				if ok, why := canDropCaches(); !ok {
					s.skip(base, []string{implAio, implStd}, why)
					continue
				}
			}
			if err := s.runCase(base, []string{implAio, implStd}); err != nil {
				return err
			}
		}
	case scenStat:
		root := filepath.Join(s.dir, "stat")
		if !s.statTree {
			s.progress("creating %d empty files in %s", s.p.statPaths, root)
			if _, err := makeTree(root, s.p.statPaths, 0, 0); err != nil {
				return fmt.Errorf("writing the stat scenario's tree: %w", err)
			}
			s.statTree = true
		}
		for _, c := range []string{"", caseCold} {
			name := strconv.Itoa(s.p.statPaths) // warm, the row's name since it was the only case
			if c != "" {
				name += " " + c
			}
			base := spec{Scenario: scenStat, Case: name, File: root, Files: s.p.statPaths, Depth: filesInFlight, Cold: c == caseCold}
			if c == caseCold {
				if ok, why := canDropCaches(); !ok {
					s.skip(base, []string{implAio, implStd}, why)
					continue
				}
			}
			if err := s.runCase(base, []string{implAio, implStd}); err != nil {
				return err
			}
		}
	case scenLog:
		base := spec{Scenario: scenLog, Case: fmt.Sprintf("c%d %s", s.p.logWriters, sizeName(s.p.logRecord)),
			File: filepath.Join(s.dir, "log"), Conns: s.p.logWriters, MsgSize: s.p.logRecord}
		return s.runCase(base, []string{implAio, implStd})
	}
	return nil
}

// roundRun measures rounds over a tree (child side): each round handles
// every one of s.Files paths once with round(), timed; the window is the
// rounds after the warm-up (at least one). A cold case drops the page
// cache before every round, outside the timing, and has no warm-up round.
func roundRun(s *spec, round func() (int64, error)) (*result, error) {
	ts := startThreadSampler()
	var (
		wall, cpu time.Duration
		use       = zeroUsage
		ops       uint64
		first     = time.Now()
	)
	if !s.Cold {
		if _, err := round(); err != nil { // warm: the page cache, the dentries, the engine
			return nil, err
		}
	}
	for ops == 0 || time.Since(first) < s.Warmup+s.Window {
		if s.Cold {
			if err := dropPageCache(); err != nil {
				return nil, fmt.Errorf("dropping the page cache: %w", err)
			}
		}
		// A warm case's rounds that begin within the warm-up run
		// uncounted: the window is the rounds after it.
		warming := !s.Cold && time.Since(first) < s.Warmup
		u0, c0, t0 := selfUsage(), cpuTime(), time.Now()
		n, err := round()
		if err != nil {
			return nil, err
		}
		if s.FileSize > 0 && n != s.FileSize {
			return nil, fmt.Errorf("a round read %d bytes, the tree holds %d", n, s.FileSize)
		}
		if warming {
			continue
		}
		wall += time.Since(t0)
		cpu += cpuTime() - c0
		use = use.add(selfUsage().sub(u0))
		ops += uint64(s.Files)
	}
	r := &result{Ops: ops, Threads: ts.finish()}
	r.derive(0, wall, cpu)
	r.setCounts(use, nil)
	return r, nil
}

// filesAio reads every file whole with s.Depth Aios, each a chain of
// callbacks over the files it claims: OpenAt, Statx of the descriptor
// (the size), ReadAt until the size is read, CloseFD.
func filesAio(s *spec) (*result, error) {
	e, err := aio.NewEngine(fileConfig())
	if err != nil {
		return nil, err
	}
	defer e.Close()
	paths := treePaths(s.File, s.Files)
	type reader struct {
		a    *aio.Aio
		buf  []byte
		st   unix.Statx_t
		fd   int
		got  int
		step int
	}
	var (
		next  atomic.Int64
		bytes atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		ferr  error
	)
	fail := func(err error) {
		mu.Lock()
		if ferr == nil {
			ferr = err
		}
		mu.Unlock()
	}
	const (
		stepOpen = iota
		stepStat
		stepRead
		stepClose
	)
	var claim func(r *reader)
	claim = func(r *reader) {
		i := int(next.Add(1) - 1)
		if i >= len(paths) {
			wg.Done()
			return
		}
		r.step, r.got = stepOpen, 0
		r.a.OpenAt(unix.AT_FDCWD, paths[i], unix.O_RDONLY, 0)
	}
	rs := make([]*reader, s.Depth)
	for i := range rs {
		r := &reader{buf: make([]byte, treeFileMax)}
		rs[i] = r
		r.a = e.NewAio(func(a *aio.Aio) {
			if err := a.Result(); err != nil {
				fail(fmt.Errorf("step %d: %w", r.step, err))
				if r.step != stepOpen && r.step != stepClose {
					unix.Close(r.fd)
				}
				wg.Done()
				return
			}
			switch r.step {
			case stepOpen:
				r.fd, r.step = a.FD(), stepStat
				a.Statx(r.fd, "", unix.AT_EMPTY_PATH, unix.STATX_SIZE, &r.st)
				return
			case stepStat:
				if r.st.Size > uint64(len(r.buf)) {
					r.buf = make([]byte, r.st.Size)
				}
				r.step = stepRead
			case stepRead:
				if a.Count() == 0 {
					fail(fmt.Errorf("file shorter than its size"))
					unix.Close(r.fd)
					wg.Done()
					return
				}
				r.got += a.Count()
			case stepClose:
				claim(r)
				return
			}
			if r.got < int(r.st.Size) {
				a.SetIOV(r.buf[r.got:r.st.Size])
				a.ReadAt(r.fd, int64(r.got))
				return
			}
			bytes.Add(int64(r.got))
			r.step = stepClose
			a.CloseFD(r.fd)
		})
		r.a.SetTimeout(aio.Infinite)
	}
	ls := watchLoop(e)
	res, err := roundRun(s, func() (int64, error) {
		next.Store(0)
		bytes.Store(0)
		wg.Add(len(rs))
		for _, r := range rs {
			claim(r)
		}
		wg.Wait()
		return bytes.Load(), ferr
	})
	if res != nil {
		res.Loop = ls.done()
	}
	for _, r := range rs {
		r.a.Free()
	}
	return res, err
}

// filesStd is os.ReadFile in s.Depth goroutines over the same files.
func filesStd(s *spec) (*result, error) {
	paths := treePaths(s.File, s.Files)
	return roundRun(s, func() (int64, error) {
		var (
			next, bytes atomic.Int64
			wg          sync.WaitGroup
			ferr        atomic.Pointer[error]
		)
		for range s.Depth {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= len(paths) {
						return
					}
					b, err := os.ReadFile(paths[i])
					if err != nil {
						ferr.Store(&err)
						return
					}
					bytes.Add(int64(len(b)))
				}
			}()
		}
		wg.Wait()
		if p := ferr.Load(); p != nil {
			return 0, *p
		}
		return bytes.Load(), nil
	})
}

// statAio stats every path with s.Depth Aios, each a chain of Statx
// callbacks over the paths it claims.
func statAio(s *spec) (*result, error) {
	e, err := aio.NewEngine(fileConfig())
	if err != nil {
		return nil, err
	}
	defer e.Close()
	paths := treePaths(s.File, s.Files)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
	)
	type statter struct {
		a  *aio.Aio
		st unix.Statx_t
	}
	claim := func(x *statter) {
		i := int(next.Add(1) - 1)
		if i >= len(paths) {
			wg.Done()
			return
		}
		x.a.Statx(unix.AT_FDCWD, paths[i], unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &x.st)
	}
	xs := make([]*statter, s.Depth)
	for i := range xs {
		x := &statter{}
		xs[i] = x
		x.a = e.NewAio(func(a *aio.Aio) {
			if err := a.Result(); err != nil {
				mu.Lock()
				ferr = err
				mu.Unlock()
				wg.Done()
				return
			}
			claim(x)
		})
		x.a.SetTimeout(aio.Infinite)
	}
	ls := watchLoop(e)
	res, err := roundRun(s, func() (int64, error) {
		next.Store(0)
		wg.Add(len(xs))
		for _, x := range xs {
			claim(x)
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return 0, ferr
	})
	if res != nil {
		res.Loop = ls.done()
	}
	for _, x := range xs {
		x.a.Free()
	}
	return res, err
}

// statStd is os.Lstat in s.Depth goroutines.
func statStd(s *spec) (*result, error) {
	paths := treePaths(s.File, s.Files)
	return roundRun(s, func() (int64, error) {
		var (
			next atomic.Int64
			wg   sync.WaitGroup
			ferr atomic.Pointer[error]
		)
		for range s.Depth {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= len(paths) {
						return
					}
					if _, err := os.Lstat(paths[i]); err != nil {
						ferr.Store(&err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if p := ferr.Load(); p != nil {
			return 0, *p
		}
		return 0, nil
	})
}

// logRecordReq is one writer's record waiting to be made durable.
type logRecordReq struct {
	data []byte
	done chan struct{} // buffered (1): the ack, sent without blocking
}

// logStd is the usual Go group commit: s.Conns writers hand their
// records to one committer goroutine, which writes all it has in one
// Write and calls Sync once per batch, then acknowledges the batch.
func logStd(s *spec) (*result, error) {
	f, err := os.OpenFile(s.File+"-"+sanitize(s.Impl), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	reqs := make(chan *logRecordReq, s.Conns)
	stop := make(chan struct{})
	var cerr error
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		var batch []*logRecordReq
		buf := make([]byte, 0, s.Conns*s.MsgSize)
		for {
			select {
			case r := <-reqs:
				batch = append(batch[:0], r)
			case <-stop:
				return
			}
		more:
			for {
				select {
				case r := <-reqs:
					batch = append(batch, r)
				default:
					break more
				}
			}
			buf = buf[:0]
			for _, r := range batch {
				buf = append(buf, r.data...)
			}
			if _, err := f.Write(buf); err != nil {
				cerr = err
				return
			}
			if err := f.Sync(); err != nil {
				cerr = err
				return
			}
			for _, r := range batch {
				r.done <- struct{}{}
			}
		}
	}()
	res, err := logLoop(s, func(r *logRecordReq) { reqs <- r }, func() (int64, error) {
		st, err := f.Stat()
		if err != nil {
			return 0, err
		}
		return st.Size(), nil
	})
	close(stop)
	<-committed
	if cerr != nil {
		return nil, cerr
	}
	return res, err
}

// logLoop runs s.Conns writers, each appending s.MsgSize-byte records
// through submit and waiting for each to be acknowledged; the latency is
// the acknowledgement's. Once every writer has stopped, logged (the
// log's size) must hold every record acknowledged, warm-up included: an
// acknowledgement is a claim that the record is in the log.
func logLoop(s *spec, submit func(*logRecordReq), logged func() (int64, error)) (*result, error) {
	var acked atomic.Int64
	res, err := closedLoop(s, s.Conns, func(i int) func() (time.Duration, error) {
		r := &logRecordReq{data: make([]byte, s.MsgSize), done: make(chan struct{}, 1)}
		for j := range r.data {
			r.data[j] = byte(i)
		}
		return func() (time.Duration, error) {
			t0 := time.Now()
			submit(r)
			select {
			case <-r.done:
			case <-time.After(maxWindow):
				return 0, errors.New("a record was not acknowledged within " + maxWindow.String())
			}
			d := time.Since(t0)
			acked.Add(1)
			return d, nil
		}
	}, int64(s.MsgSize))
	if err != nil {
		return nil, err
	}
	n, err := logged()
	if err != nil {
		return nil, fmt.Errorf("the log's size: %w", err)
	}
	if want := acked.Load() * int64(s.MsgSize); n < want {
		return nil, fmt.Errorf("%d records of %d bytes were acknowledged, the log holds %d bytes", acked.Load(), s.MsgSize, n)
	}
	return res, nil
}

// logAio is the same group commit on the engine, pipelined: records go
// out in batches with WriteAt at the log's end as soon as the previous
// batch's write is done, and an Fdatasync covers every batch whose write
// completed before it started, while the next batch is written. A batch
// is acknowledged when a sync that began after its write ended completes.
// Two Aios, and no goroutine of its own: the callbacks drive it.
func logAio(s *spec) (*result, error) {
	fd, err := unix.Open(s.File+"-"+sanitize(s.Impl), unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	defer unix.Unlink(s.File + "-" + sanitize(s.Impl))
	defer unix.Close(fd)
	e, err := aio.NewEngine(engineConfig())
	if err != nil {
		return nil, err
	}
	defer e.Close()
	var (
		mu       sync.Mutex
		pending  []*logRecordReq // waiting for a write
		writing  []*logRecordReq // in the write in flight
		unsynced []*logRecordReq // written, waiting for a sync
		syncing  []*logRecordReq // covered by the sync in flight
		off      int64
		buf      = make([]byte, 0, s.Conns*s.MsgSize)
		werr     error
		w, sy    *aio.Aio
	)
	// startWrite writes all pending records (mu held, no write in flight).
	startWrite := func() {
		writing, pending = append(writing[:0], pending...), pending[:0]
		buf = buf[:0]
		for _, r := range writing {
			buf = append(buf, r.data...)
		}
		w.SetIOV(buf)
		w.WriteAt(fd, off)
	}
	startSync := func() {
		syncing, unsynced = append(syncing[:0], unsynced...), unsynced[:0]
		sy.Fdatasync(fd)
	}
	w = e.NewAio(func(a *aio.Aio) {
		mu.Lock()
		defer mu.Unlock()
		if err := a.Result(); err != nil || a.Count() != len(buf) {
			werr = fmt.Errorf("write: %v (%d of %d bytes)", err, a.Count(), len(buf))
			return
		}
		off += int64(len(buf))
		unsynced = append(unsynced, writing...)
		writing = writing[:0]
		if len(syncing) == 0 {
			startSync()
		}
		if len(pending) > 0 {
			startWrite()
		}
	})
	sy = e.NewAio(func(a *aio.Aio) {
		mu.Lock()
		defer mu.Unlock()
		if err := a.Result(); err != nil {
			werr = fmt.Errorf("fdatasync: %v", err)
			return
		}
		for _, r := range syncing {
			r.done <- struct{}{}
		}
		syncing = syncing[:0]
		if len(unsynced) > 0 {
			startSync()
		}
	})
	w.SetTimeout(aio.Infinite)
	sy.SetTimeout(aio.Infinite)
	ls := watchLoop(e)
	res, err := logLoop(s, func(r *logRecordReq) {
		mu.Lock()
		pending = append(pending, r)
		if len(writing) == 0 {
			startWrite()
		}
		mu.Unlock()
	}, func() (int64, error) {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return 0, err
		}
		return st.Size, nil
	})
	w.Wait()
	sy.Wait()
	if res != nil {
		res.Loop = ls.done()
	}
	w.Free()
	sy.Free()
	if werr != nil {
		return nil, werr
	}
	return res, err
}

// statxInlineEnv, set to 1 in the bench's environment (the children
// inherit it), makes the files and stat scenarios' aioring engines run
// Statx inline (aio.Config.StatxInline), so that the two paths can be
// measured against each other; the table's footnote says which ran.
const statxInlineEnv = "AIORING_BENCH_STATX_INLINE"

func statxInline() bool { return os.Getenv(statxInlineEnv) == "1" }

// fileConfig is the aioring engine's configuration in the files and stat
// scenarios.
func fileConfig() aio.Config {
	cfg := engineConfig() // -ring-only holds here too, as the header says
	cfg.StatxInline = statxInline()
	return cfg
}

// statxPath names the path Statx took, for the footnotes.
func statxPath() string {
	if statxInline() {
		return "Statx ran inline (" + statxInlineEnv + "=1: aio.Config.StatxInline, a statx(2) on the starting goroutine)"
	}
	return "Statx of a path ran on its starter while the lookups were cached, through the ring (IORING_OP_STATX) for a while after one that was not (the default; " + statxInlineEnv + "=1 measures aio.Config.StatxInline, always on the starter, instead)"
}

// needsDir: the file scenarios work in the run's temporary directory.
func needsDir(run []string) bool {
	for _, n := range run {
		if n == scenFiles || n == scenStat || n == scenLog {
			return true
		}
	}
	return false
}

// prepareDir makes the run's temporary directory when no scenario that
// writes the test file made it.
func (s *suite) prepareDir(parent string, cl *cleanup) error {
	dir, err := os.MkdirTemp(parent, "aioring-bench-")
	if err != nil {
		return usagef("-dir %s: cannot make a temporary directory there (%v): pass -dir with a writable directory", parent, err)
	}
	s.dir = dir
	cl.add(func() { os.RemoveAll(dir) })
	return nil
}

// fileTarget is issue 18's target for a file scenario's case c against
// impl: the standard library only.
func fileTarget(scenario, c, impl string) *target {
	if impl != implStd {
		return nil
	}
	switch scenario {
	case scenFiles:
		if c == caseCold {
			return &target{minRatio: 2.0, fewerThreads: true, text: ">= 2.0x files/s, fewer threads", chart: 2.0}
		}
		return &target{minRatio: 1.5, text: ">= 1.5x files/s", chart: 1.5}
	case scenStat:
		return &target{minRatio: 1.0, fewerThreads: true, text: ">= 1.0x stats/s, fewer threads", chart: 1.0}
	case scenLog:
		return &target{minRatio: 1.5, maxP99: 1.0, text: ">= 1.5x appends/s at p99 <= stdlib's", chart: 1.5}
	}
	return nil
}

// fileNotes are the file scenarios' footnotes.
func (s *suite) fileNotes() []string {
	var n []string
	if s.ran[scenFiles] {
		n = append(n, fmt.Sprintf("files: every file of a tree of %d files of %d-%d KiB read whole, %d at a time, per round; OPS/S is files per second, CPU/MOP CPU seconds per million files. aioring: %d Aios, each a callback chain OpenAt, Statx (AT_EMPTY_PATH, the size), ReadAt until the size is read, CloseFD; stdlib: os.ReadFile in %d goroutines. warm: after one unmeasured round; cold: the page cache dropped (%s) before every round, which needs root. %s.",
			s.p.treeFiles, treeFileMin/kiB, treeFileMax/kiB, filesInFlight, filesInFlight, filesInFlight, dropCaches, statxPath()))
	}
	if s.ran[scenStat] {
		n = append(n, fmt.Sprintf("stat: %d distinct empty files stat-ed per round, %d in flight; warm: after one unmeasured round; cold: the page cache (with the dentries and inodes) dropped before every round, which needs root; aioring: Statx (AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS) chains on %d Aios; stdlib: os.Lstat in %d goroutines. OPS/S is stats per second. %s.", s.p.statPaths, filesInFlight, filesInFlight, filesInFlight, statxPath()))
	}
	if s.ran[scenLog] {
		n = append(n, fmt.Sprintf("log: %d writers append %s records to one file, each waiting until its record is durable; OPS/S is acknowledged appends per second, P50/P99/MAX the latency of an acknowledgement. stdlib: group commit, one goroutine writing each batch with one Write and calling Sync (fsync) once per batch; aioring: the same batches with WriteAt at the log's end and Fdatasync, pipelined (a batch is written while the previous one syncs), driven by the callbacks of two Aios (on io_uring at two or more Ps the engine makes each Fdatasync as a blocking call on a sync worker of its own, not in io-wq: docs/design.md, decision 84). No write is linked to its sync (the Aio API has no links).", s.p.logWriters, sizeName(s.p.logRecord)))
	}
	return n
}
