package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aioring/aioring/aio"
)

func main() {
	if os.Getenv(childEnv) == "1" {
		os.Exit(childMain(os.Stdin, os.Stdout, os.Stderr))
	}
	if os.Getenv(stressEnv) != "" {
		os.Exit(stressMain())
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // a measurement failed; the table says which
	exitUsage = 2 // bad input or an unusable machine; nothing was measured
)

// errUsage marks errors that end the run with exitUsage.
type errUsage struct{ msg string }

func (e *errUsage) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &errUsage{fmt.Sprintf(format, args...)}
}

// oneLine flattens an error message to a single line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

type options struct {
	full, tiny bool
	only       string
	jsonPath   string
	chartPath  string
	dir        string
	cpuProfile string
	soak       time.Duration
	stress     bool
	procs      int
	count      int
	backend    string
	backendSet bool // -backend given: it overrides AIORING_BACKEND in the soak too
	ringOnly   bool
	compare    [2]string // -compare OLD NEW
	chartFrom  []string  // -chart FILE RUN.json...: chart these runs
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&o.full, "full", false, "run longer windows on a 1 GiB file (several minutes)")
	fs.BoolVar(&o.tiny, "tiny", false, "a few seconds of tiny cases, to check that the suite works (CI); the figures mean nothing")
	fs.StringVar(&o.only, "only", "", "run only the scenario `NAME`: "+strings.Join(scenarios, ", "))
	fs.StringVar(&o.jsonPath, "json", "", "write every figure to `FILE` as JSON")
	fs.StringVar(&o.chartPath, "chart", "", "draw the ratios to `FILE` (.svg or .png); followed by -json files (-chart FILE quiet.json stress.json procs1.json), draw those runs instead of measuring, one bar per condition")
	fs.StringVar(&o.dir, "dir", os.TempDir(), "make the test files in `DIR` (needs room for two copies of the file)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of each aioring case to `PREFIX`-<scenario>-<case>.pprof")
	fs.DurationVar(&o.soak, "soak", 0, "instead of the suite, run the soak test for `DURATION`")
	fs.BoolVar(&o.stress, "stress", false, "run one CPU-bound process per core (nice 0) beside every case: a busy machine")
	fs.IntVar(&o.procs, "procs", 0, "set GOMAXPROCS=`N` in every measured process, as in a container limited to N CPUs")
	fs.IntVar(&o.count, "count", 1, "run each case `N` times, interleaved by case, and report the median of every figure with the min-max spread of the headline")
	fs.BoolVar(&o.ringOnly, "ring-only", false, "measure aioring with Config.RingOnly: every file read through the ring, none tried first on its starter (to compare the two paths)")
	fs.StringVar(&o.backend, "backend", string(aio.BackendIOURing), "measure aioring on backend `NAME`: io_uring, or portable (named aioring-portable in tables and JSON)")
	fs.StringVar(&o.compare[0], "compare", "", "instead of measuring, compare two -json files: -compare `OLD.json` NEW.json; or several runs per build, comma-separated (-compare O1.json,O2.json,O3.json N1.json,N2.json,N3.json): medians and min-max spreads")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "usage: go run ./bench [flags]\n\nRuns the benchmark suite (about a minute) and prints a table.\n\n")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return nil, err
		}
		return nil, usagef("%s (go run ./bench -h lists the flags)", oneLine(err.Error()))
	}
	if o.compare[0] != "" {
		if fs.NArg() != 1 {
			return nil, usagef("-compare takes two files, the old run and the new one: go run ./bench -compare OLD.json NEW.json")
		}
		o.compare[1] = fs.Arg(0)
		var other string
		fs.Visit(func(f *flag.Flag) {
			if f.Name != "compare" && other == "" {
				other = f.Name
			}
		})
		if other != "" {
			return nil, usagef("-compare reads two -json files and measures nothing, so -%s does not apply: drop it", other)
		}
		return o, nil
	}
	if o.chartPath != "" {
		if ext := strings.ToLower(filepath.Ext(o.chartPath)); ext != ".svg" && ext != ".png" {
			return nil, usagef("-chart %s: the file name must end in .svg or .png", o.chartPath)
		}
	}
	if o.chartPath != "" && fs.NArg() > 0 {
		o.chartFrom = fs.Args()
		var other string
		fs.Visit(func(f *flag.Flag) {
			if f.Name != "chart" && other == "" {
				other = f.Name
			}
		})
		if other != "" {
			return nil, usagef("-chart with -json files draws those runs and measures nothing, so -%s does not apply: drop it", other)
		}
		return o, nil
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q: bench takes only flags (go run ./bench -h lists them)", fs.Arg(0))
	}
	procsSet, backendSet := false, false
	fs.Visit(func(f *flag.Flag) {
		procsSet = procsSet || f.Name == "procs"
		backendSet = backendSet || f.Name == "backend"
	})
	o.backendSet = backendSet
	if o.count < 1 {
		return nil, usagef("-count %d: each case must run at least once", o.count)
	}
	if procsSet && o.procs < 1 {
		return nil, usagef("-procs %d: GOMAXPROCS must be at least 1", o.procs)
	}
	if o.backend != string(aio.BackendIOURing) && o.backend != string(aio.BackendPortable) {
		return nil, usagef("-backend %q: choose io_uring or portable", o.backend)
	}
	if o.full && o.tiny {
		return nil, usagef("-full and -tiny exclude each other; pick one")
	}
	if o.only != "" && !slices.Contains(scenarios, o.only) {
		return nil, usagef("unknown scenario %q for -only: choose one of %s", o.only, strings.Join(scenarios, ", "))
	}
	if o.soak < 0 {
		return nil, usagef("-soak %v: the duration must be positive", o.soak)
	}
	return o, nil
}

// run is the whole program; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return exitUsage
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var kids children
	var cl cleanup
	// Ctrl-C or SIGTERM: stop the current child, remove every temporary
	// file, and leave at once.
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigc)
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case sig := <-sigc:
			cancel()
			kids.kill()
			cl.run()
			fmt.Fprintf(stderr, "bench: interrupted (%v); temporary files removed\n", sig)
			os.Exit(130)
		case <-finished:
		}
	}()

	if o.compare[0] != "" {
		cmp := compareFiles
		if strings.Contains(o.compare[0], ",") || strings.Contains(o.compare[1], ",") || hasRuns(o.compare[0]) || hasRuns(o.compare[1]) {
			cmp = compareRunSets
		}
		if err := cmp(o.compare[0], o.compare[1], stdout); err != nil {
			fmt.Fprintf(stderr, "bench: %s\n", oneLine(err.Error()))
			return exitUsage
		}
		return exitOK
	}

	if len(o.chartFrom) > 0 {
		if err := chartFiles(o.chartPath, o.chartFrom, &cl); err != nil {
			fmt.Fprintf(stderr, "bench: %s\n", oneLine(err.Error()))
			var u *errUsage
			if errors.As(err, &u) {
				return exitUsage
			}
			return exitFail
		}
		return exitOK
	}

	if o.soak > 0 {
		// -backend and -ring-only hold for the soak too; without -backend
		// it runs where AIORING_BACKEND (or the default) puts an engine.
		if o.backendSet {
			useBackend(o.backend)
		}
		if o.ringOnly {
			os.Setenv(ringOnlyEnv, "1")
		}
		if err := runSoak(ctx, o.soak, stdout); err != nil {
			fmt.Fprintf(stderr, "bench: soak: %s\n", oneLine(err.Error()))
			return exitFail
		}
		return exitOK
	}

	status, err := runSuite(ctx, o, &kids, &cl, stdout, stderr)
	if ctx.Err() != nil {
		// Only the signal handler cancels ctx before run returns, and it
		// ends the process once the files are gone: let it.
		select {}
	}
	cl.run()
	if err != nil {
		fmt.Fprintf(stderr, "bench: %s\n", oneLine(err.Error()))
		var u *errUsage
		if errors.As(err, &u) {
			return exitUsage
		}
		return exitFail
	}
	return status
}

// cleanup removes temporary files once, from the normal path or from the
// signal handler, whichever comes first.
type cleanup struct {
	mu    sync.Mutex
	done  bool
	funcs []func()
}

func (c *cleanup) add(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		f()
		return
	}
	c.funcs = append(c.funcs, f)
}

func (c *cleanup) run() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	c.done = true
	for i := len(c.funcs) - 1; i >= 0; i-- {
		c.funcs[i]()
	}
}

// runSuite checks the machine, measures, and writes the outputs.
func runSuite(ctx context.Context, o *options, kids *children, cl *cleanup, stdout, stderr io.Writer) (int, error) {
	p := quickParams()
	switch {
	case o.full:
		p = fullParams()
	case o.tiny:
		p = tinyParams()
	}
	// Output files first: an unwritable path must fail before anything runs.
	var jsonOut, chartOut *outFile
	var err error
	if o.jsonPath != "" {
		if jsonOut, err = createOutFile("-json", o.jsonPath); err != nil {
			return 0, err
		}
		cl.add(jsonOut.abort)
	}
	if o.chartPath != "" {
		if chartOut, err = createOutFile("-chart", o.chartPath); err != nil {
			return 0, err
		}
		cl.add(chartOut.abort)
	}
	useBackend(o.backend)
	if o.ringOnly {
		os.Setenv(ringOnlyEnv, "1") // children inherit it
	}
	if err := checkBackend(); err != nil {
		return 0, err
	}
	load0 := loadAvg()
	if o.procs > 0 {
		kids.env = append(kids.env, fmt.Sprintf("GOMAXPROCS=%d", o.procs))
	}
	s := &suite{p: p, ctx: ctx, kids: kids, stderr: stderr, cpuProfile: o.cpuProfile, start: time.Now(), procs: o.procs, count: o.count}
	run := scenarios
	if o.only != "" {
		run = []string{o.only}
	}
	if needsFile(run) {
		if err := s.prepareFile(o.dir, slices.Contains(run, scenCopy), cl); err != nil {
			return 0, err
		}
	}
	if s.dir == "" && needsDir(run) {
		if err := s.prepareDir(o.dir, cl); err != nil {
			return 0, err
		}
	}
	if o.stress {
		s.stress = stressCount()
		s.progress("starting %d CPU-bound processes (-stress) beside every case", s.stress)
		if err := kids.startStress(s.stress); err != nil {
			return 0, err
		}
	}
	for _, name := range run {
		if err := s.runScenario(name); err != nil {
			kids.stopStress()
			return 0, err
		}
	}
	if err := kids.stopStress(); err != nil {
		return 0, err
	}
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	wall := time.Since(s.start)
	rep := &report{Mode: p.mode, Backend: o.backend, RingOnly: o.ringOnly, Stress: o.stress, StressProcs: s.stress, Procs: o.procs, Count: o.count,
		Started: s.start.UTC(), WallSeconds: wall.Seconds(), Notes: s.notes(), Results: s.results}
	rep.LoadAvg[0] = load0
	rep.fillHost()
	writeTable(stdout, rep)
	if jsonOut != nil {
		if err := jsonOut.commit(rep.writeJSON); err != nil {
			return 0, err
		}
	}
	if chartOut != nil {
		if err := chartOut.commit(func(w io.Writer) error { return writeChart(w, o.chartPath, []*report{rep}) }); err != nil {
			return 0, err
		}
	}
	fmt.Fprintf(stderr, "bench: done in %.1f s\n", wall.Seconds())
	if s.failed {
		return exitFail, nil
	}
	return exitOK, nil
}

// useBackend makes every engine of this process and of its children (which
// inherit the environment) run backend b, and names aioring's rows after it.
func useBackend(b string) {
	os.Setenv(aio.BackendEnv, b)
	backendFromEnv()
}

// ringOnlyEnv carries -ring-only to the measured processes.
const ringOnlyEnv = "AIORING_BENCH_RING_ONLY"

// engineConfig is the configuration of every engine the bench measures.
func engineConfig() aio.Config {
	return aio.Config{RingOnly: os.Getenv(ringOnlyEnv) == "1"}
}

// backendFromEnv sets implAio from AIORING_BACKEND; children call it.
func backendFromEnv() {
	implAio = implAioRing
	if os.Getenv(aio.BackendEnv) == string(aio.BackendPortable) {
		implAio = implAioPortable
	}
}

func init() { backendFromEnv() }

// checkBackend fails with a usage error when this machine cannot run the
// chosen backend (io_uring: unavailable, or denied).
func checkBackend() error {
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		if errors.Is(err, aio.ErrUnsupported) {
			// The engine's error names the cause and the cure (sysctl,
			// seccomp profile, kernel version).
			return usagef("io_uring is unavailable, so there is nothing to measure: %v", err)
		}
		return usagef("cannot create an io_uring (%v): check RLIMIT_MEMLOCK and kernel.io_uring_disabled", err)
	}
	if want := aio.Backend(os.Getenv(aio.BackendEnv)); e.Backend() != want {
		e.Close()
		return usagef("the engine runs %s, not %s", e.Backend(), want)
	}
	return e.Close()
}

func needsFile(run []string) bool {
	for _, n := range run {
		if n == scenDirect || n == scenCached || n == scenWriteCached || n == scenCopy {
			return true
		}
	}
	return false
}
