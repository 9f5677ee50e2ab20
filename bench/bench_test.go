package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mainEnv makes the test binary behave as the bench command, so the tests
// can check exit statuses and signals without building it separately.
const mainEnv = "AIORING_BENCH_MAIN"

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(childEnv) == "1":
		// The suite runs each case in a child: this same test binary.
		os.Exit(childMain(os.Stdin, os.Stdout, os.Stderr))
	case os.Getenv(stressEnv) != "":
		os.Exit(stressMain())
	case os.Getenv(mainEnv) == "1":
		if os.Getenv(noUringEnv) == "1" {
			if err := blockIOUring(); err != nil {
				fmt.Fprintln(os.Stderr, "cannot install the seccomp filter:", err)
				os.Exit(99)
			}
		}
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// benchCmd runs the bench command (this test binary in its place).
func benchCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	return cmd
}

// TestTinySuite runs every scenario in tiny mode, the way CI keeps the suite
// from rotting, and checks the table, the JSON and the chart.
func TestTinySuite(t *testing.T) {
	dir := t.TempDir()
	work := t.TempDir()
	jsonPath := filepath.Join(dir, "out.json")
	chartPath := filepath.Join(dir, "out.svg")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-tiny", "-dir", work, "-json", jsonPath, "-chart", chartPath}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	table := stdout.String()
	for _, sc := range scenarios {
		if !hasRow(table, sc, implAio) {
			t.Errorf("the table has no aioring row for %s:\n%s", sc, table)
		}
	}
	// Baselines the suite must never drop silently: http's comparison is
	// the whole point of that scenario.
	for _, want := range []struct{ scen, impl string }{{scenHTTP, implNet}, {scenTCP, implNet}, {scenTCP, implGnet}, {scenProxy, implNet}} {
		if !hasRow(table, want.scen, want.impl) {
			t.Errorf("the table has no %s row for %s:\n%s", want.impl, want.scen, table)
		}
	}
	if strings.Contains(table, "FAILED") {
		t.Errorf("a case failed:\n%s\n%s", table, stderr.String())
	}

	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("the -json output does not parse: %v", err)
	}
	seen := map[string]bool{}
	for _, r := range rep.Results {
		seen[r.Scenario] = true
		if r.Note != "" {
			continue
		}
		if r.OpsPerS <= 0 && r.MBPerS <= 0 {
			t.Errorf("%s %s %s: no throughput in the JSON", r.Scenario, r.Case, r.Impl)
		}
		if r.Impl != implAio && r.Ratio <= 0 {
			t.Errorf("%s %s %s: no ratio in the JSON", r.Scenario, r.Case, r.Impl)
		}
		if r.Impl == implAio && r.Threads <= 0 {
			t.Errorf("%s %s: no thread count", r.Scenario, r.Case)
		}
		if (r.Scenario == scenTCP || r.Scenario == scenHTTP || r.Scenario == scenProxy) && (r.ServerCPUSPerMop <= 0 || r.ServerCPUSPerMop >= r.CPUSPerMop) {
			t.Errorf("%s %s %s: server CPU %v s/Mop of %v for the whole run; want a part of it", r.Scenario, r.Case, r.Impl, r.ServerCPUSPerMop, r.CPUSPerMop)
		}
	}
	if rep.Stress || rep.Procs != 0 || !bytes.Contains(b, []byte(`"stress": false`)) || !bytes.Contains(b, []byte(`"procs": 0`)) {
		t.Errorf("a quiet run's header says stress %v, procs %d; want false and 0 in the JSON", rep.Stress, rep.Procs)
	}
	if !strings.Contains(strings.SplitN(table, "\n", 2)[0], "quiet machine") {
		t.Errorf("the title does not say the machine was quiet: %q", strings.SplitN(table, "\n", 2)[0])
	}
	for _, sc := range scenarios {
		if !seen[sc] {
			t.Errorf("the JSON has no result for %s", sc)
		}
	}
	svg, err := os.ReadFile(chartPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(svg, []byte("<svg")) {
		t.Errorf("the chart is not an SVG: %.100q", svg)
	}
	assertEmptyDir(t, work)
	assertOnly(t, dir, "out.json", "out.svg")
}

// hasRow reports whether the table has a row of impl in scenario scen.
func hasRow(table, scen, impl string) bool {
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[0] == scen && strings.Contains(line, " "+impl+" ") {
			return true
		}
	}
	return false
}

// assertEmptyDir fails when the suite left anything in dir.
func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	assertOnly(t, dir)
}

// assertOnly fails when dir holds anything but names.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

// TestBadInput checks that every kind of bad input ends with one line on
// stderr, exit status 2, nothing on stdout and no file left behind.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "plainfile")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-bogus"}, "flag provided but not defined"},
		{"unknown scenario", []string{"-only", "nosuch"}, "unknown scenario"},
		{"stray argument", []string{"nop"}, "unexpected argument"},
		{"both modes", []string{"-tiny", "-full"}, "exclude each other"},
		{"bad duration", []string{"-soak", "soon"}, "invalid value"},
		{"chart format", []string{"-chart", filepath.Join(dir, "c.gif")}, ".svg or .png"},
		{"unwritable json", []string{"-tiny", "-json", filepath.Join(notDir, "out.json")}, "choose a writable path"},
		{"unwritable chart", []string{"-tiny", "-chart", filepath.Join(notDir, "out.svg")}, "choose a writable path"},
		{"procs zero", []string{"-procs", "0"}, "-procs 0"},
		{"procs negative", []string{"-procs", "-2"}, "-procs -2"},
		{"procs not a number", []string{"-procs", "two"}, "invalid value"},
		{"compare one file", []string{"-compare", filepath.Join(dir, "old.json")}, "-compare takes two files"},
		{"compare three files", []string{"-compare", "a.json", "b.json", "c.json"}, "-compare takes two files"},
		{"compare missing file", []string{"-compare", filepath.Join(dir, "nosuch.json"), filepath.Join(dir, "nosuch2.json")}, "no such file"},
		{"compare with a measuring flag", []string{"-tiny", "-compare", "a.json", "b.json"}, "drop it"},
		{"compare not json", []string{"-compare", notDir, notDir}, "not a bench -json file"},
		{"missing dir", []string{"-tiny", "-only", "copy", "-json", filepath.Join(dir, "out.json"), "-dir", filepath.Join(dir, "nosuch")}, "-dir"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expectUsageError(t, benchCmd(t, c.args...), c.want)
			assertOnly(t, dir, "plainfile")
		})
	}
}

// TestTinyConditions runs the whole tiny suite under both conditions at
// once, -stress and -procs 1, and checks that the run says so and that no
// CPU burner outlives it.
func TestTinyConditions(t *testing.T) {
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "out.json")
	var stdout, stderr bytes.Buffer
	before := childPIDs(t)
	code := run([]string{"-tiny", "-stress", "-procs", "1", "-dir", t.TempDir(), "-json", jsonPath}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	if left := childPIDs(t) - before; left > 0 {
		t.Errorf("%d child processes outlived the run", left)
	}
	title := strings.SplitN(stdout.String(), "\n", 2)[0]
	for _, want := range []string{"-stress", "-procs 1"} {
		if !strings.Contains(title, want) {
			t.Errorf("the title does not say %q: %q", want, title)
		}
	}
	if strings.Contains(stdout.String(), "FAILED") {
		t.Errorf("a case failed:\n%s\n%s", stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Stress || rep.Procs != 1 || rep.StressProcs < 1 {
		t.Errorf("the JSON header says stress %v (%d processes), procs %d; want true, at least 1, 1", rep.Stress, rep.StressProcs, rep.Procs)
	}
	seen := map[string]bool{}
	for _, r := range rep.Results {
		seen[r.Scenario] = true
	}
	for _, sc := range scenarios {
		if !seen[sc] {
			t.Errorf("the JSON has no result for %s", sc)
		}
	}
}

// childPIDs counts the live (not yet reaped or still running) children of
// this process.
func childPIDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	me := os.Getpid()
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		f := bytes.Fields(b[i+1:])
		// state is the first field after the name, ppid the second.
		if len(f) > 1 && string(f[1]) == fmt.Sprint(me) && string(f[0]) != "Z" {
			n++
		}
	}
	return n
}

// TestCompare compares two small -json files: a row that moved far beyond
// the baselines' movement is marked, one that moved with them is not.
func TestCompare(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, rep *report) string {
		p := filepath.Join(dir, name)
		var b bytes.Buffer
		if err := rep.writeJSON(&b); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rows := func(aioEcho, netEcho, aioNop, srv float64) []*result {
		return []*result{
			{Scenario: scenTCP, Case: "c64 64B", Impl: implAio, OpsPerS: aioEcho, CPUSPerMop: 2 * srv, ServerCPUSPerMop: srv},
			{Scenario: scenTCP, Case: "c64 64B", Impl: implNet, OpsPerS: netEcho, CPUSPerMop: 20, ServerCPUSPerMop: 10},
			{Scenario: scenNop, Case: "qd1", Impl: implAio, OpsPerS: aioNop},
			{Scenario: scenNop, Case: "qd1", Impl: implRawRing, OpsPerS: 1000},
		}
	}
	old := write("old.json", &report{Mode: "quick", Results: rows(100_000, 100_000, 500, 8)})
	// tcp-echo aioring +50% while net moved 3%; nop aioring +4%.
	cur := write("new.json", &report{Mode: "quick", Results: rows(150_000, 103_000, 520, 6)})
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-compare", old, cur}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit status %d: %s", code, stderr.String())
	}
	out := stdout.String()
	line := func(scen, impl string) string {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, scen+" ") && strings.Contains(l, " "+impl+" ") {
				return l
			}
		}
		t.Fatalf("no %s %s row in:\n%s", scen, impl, out)
		return ""
	}
	if l := line(scenTCP, implAio); !strings.Contains(l, "+50.0%") || !strings.Contains(l, "MOVED") || !strings.Contains(l, "-25.0%") {
		t.Errorf("tcp-echo aioring should show +50.0%%, the server CPU's -25.0%% and MOVED:\n%s", l)
	}
	if l := line(scenTCP, implNet); !strings.Contains(l, "+3.0%") || strings.Contains(l, "MOVED") {
		t.Errorf("tcp-echo net should show +3.0%% and no mark:\n%s", l)
	}
	if l := line(scenNop, implAio); !strings.Contains(l, "+4.0%") || !strings.Contains(l, "within noise") {
		t.Errorf("nop aioring should be within the noise:\n%s", l)
	}

	// Mismatched files: one line, exit status 2.
	tiny := write("tiny.json", &report{Mode: "tiny", Results: rows(1, 1, 1, 1)})
	stressed := write("stressed.json", &report{Mode: "quick", Stress: true, StressProcs: 2, Results: rows(1, 1, 1, 1)})
	other := write("other.json", &report{Mode: "quick", Results: []*result{{Scenario: scenTimers, Case: "1000", Impl: implAio, OpsPerS: 1}}})
	empty := filepath.Join(dir, "empty.json")
	os.WriteFile(empty, []byte("{}"), 0o644)
	for _, c := range []struct {
		name, a, b, want string
	}{
		{"modes", old, tiny, "one mode"},
		{"conditions", old, stressed, "condition"},
		{"no common case", old, other, "no case in common"},
		{"empty report", old, empty, "not a bench -json file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			expectUsageError(t, benchCmd(t, "-compare", c.a, c.b), c.want)
		})
	}
}

func expectUsageError(t *testing.T, cmd *exec.Cmd, want string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
		t.Fatalf("got %v, want exit status 2; stderr:\n%s", err, stderr.String())
	}
	msg := stderr.String()
	if strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") {
		t.Errorf("want one line on stderr, got %q", msg)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("stderr %q does not say %q", msg, want)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout should be empty, got %q", stdout.String())
	}
}

// TestNoRoom gives the suite a file system too small for its test file.
func TestNoRoom(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v); the no-room check needs one", err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	out := t.TempDir()
	expectUsageError(t, benchCmd(t, "-tiny", "-only", "read-cached", "-dir", dir, "-json", filepath.Join(out, "out.json")), "no room")
	assertEmptyDir(t, dir)
	assertEmptyDir(t, out)
}

// TestInterrupt sends SIGINT while the suite runs and checks that it stops
// promptly and removes its temporary files and any unfinished output.
func TestInterrupt(t *testing.T) {
	work := t.TempDir()
	out := t.TempDir()
	cmd := benchCmd(t, "-tiny", "-dir", work, "-json", filepath.Join(out, "out.json"))
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until a case is being measured, so the test file exists.
	var seen bytes.Buffer
	buf := make([]byte, 4096)
	for !bytes.Contains(seen.Bytes(), []byte("read-direct")) {
		n, err := stderr.Read(buf)
		seen.Write(buf[:n])
		if err != nil {
			t.Fatalf("the suite ended before it was interrupted: %v\n%s", err, seen.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		rest, _ := io.ReadAll(stderr)
		seen.Write(rest)
		done <- cmd.Wait()
	}()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the suite did not stop within 30 s of SIGINT")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("got %v after SIGINT, want exit status 130; stderr:\n%s", err, seen.String())
	}
	if !strings.Contains(seen.String(), "interrupted") {
		t.Errorf("stderr does not say it was interrupted:\n%s", seen.String())
	}
	assertEmptyDir(t, work)
	assertEmptyDir(t, out)
}

func TestHistQuantiles(t *testing.T) {
	var h hist
	for i := 1; i <= 10000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 5000}, {0.99, 9900}} {
		got := h.quantile(c.q)
		if got < c.want*0.96 || got > c.want*1.04 {
			t.Errorf("quantile(%v) = %.0f us, want %.0f us within 4%%", c.q, got, c.want)
		}
	}
	if h.maxUs() != 10000 {
		t.Errorf("max = %v us, want 10000", h.maxUs())
	}
	var empty hist
	if empty.quantile(0.5) != 0 {
		t.Error("an empty histogram has a median")
	}
}

func TestCompareTargets(t *testing.T) {
	a := &result{OpsPerS: 150, CPUSPerMop: 1, P50us: 10}
	b := &result{OpsPerS: 100, CPUSPerMop: 4, P50us: 10}
	compare(a, b, targetFor(scenDirect, 32, implStd))
	if b.Ratio != 1.5 || b.CPURatio != 0.25 || b.Met == nil || !*b.Met {
		t.Errorf("1.5x IOPS at 0.25x CPU should meet the stdlib target: %+v", b)
	}
	c := &result{OpsPerS: 200, CPUSPerMop: 1.5}
	compare(a, c, targetFor(scenDirect, 128, implStd))
	if c.Met == nil || *c.Met || !strings.Contains(c.Miss, "0.75x") || !strings.Contains(c.Miss, "CPU") {
		t.Errorf("0.75x IOPS at 0.67x CPU should miss on both counts: %+v", c)
	}
	d := &result{OpsPerS: 100}
	compare(a, d, targetFor(scenDirect, 1, implStd))
	if d.Met != nil || d.Target != "" {
		t.Errorf("depth 1 has no target: %+v", d)
	}
}

// TestDirectIOUnsupported checks the probe that lets the suite report
// "O_DIRECT unsupported" instead of failing; ramfs has no O_DIRECT.
func TestDirectIOUnsupported(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mount("ramfs", dir, "ramfs", 0, ""); err != nil {
		t.Skipf("cannot mount ramfs here (%v)", err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, make([]byte, 2*blockSize), 0o600); err != nil {
		t.Fatal(err)
	}
	ok, why := directIOSupported(f)
	if ok || !strings.Contains(why, "O_DIRECT") {
		t.Errorf("directIOSupported on ramfs = %v, %q; want false and a reason naming O_DIRECT", ok, why)
	}
}

// noUringEnv makes the bench command run with io_uring_setup blocked.
const noUringEnv = "AIORING_BENCH_NO_URING"

// blockIOUring installs a seccomp filter on every thread of the process that
// fails io_uring_setup with ENOSYS, as a container's default profile does.
func blockIOUring() error {
	const (
		ldAbsW  = 0x20 // BPF_LD | BPF_W | BPF_ABS
		jeqK    = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
		retK    = 0x06 // BPF_RET | BPF_K
		retAll  = 0x7fff0000
		nrField = 0 // offsetof(struct seccomp_data, nr)
	)
	prog := []unix.SockFilter{
		{Code: ldAbsW, K: nrField},
		{Code: jeqK, Jt: 0, Jf: 1, K: unix.SYS_IO_URING_SETUP},
		{Code: retK, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{Code: retK, K: retAll},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return errno
	}
	return nil
}

// TestNoIOUring runs the suite where io_uring_setup is blocked: one line
// that says why and what to do, exit status 2, and no output file.
func TestNoIOUring(t *testing.T) {
	out := t.TempDir()
	cmd := benchCmd(t, "-tiny", "-json", filepath.Join(out, "out.json"))
	cmd.Env = append(cmd.Env, noUringEnv+"=1")
	expectUsageError(t, cmd, "seccomp")
	assertEmptyDir(t, out)
}

// -compare with several runs per side: medians, min-max spreads, and a row
// marked moved only when the spreads do not overlap.
func TestCompareRunSets(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, aioEcho, netEcho, aioNop float64) string {
		rep := &report{Mode: "quick", Results: []*result{
			{Scenario: scenTCP, Case: "c64 64B", Impl: implAio, OpsPerS: aioEcho, ServerCPUSPerMop: 5},
			{Scenario: scenTCP, Case: "c64 64B", Impl: implNet, OpsPerS: netEcho, ServerCPUSPerMop: 10},
			{Scenario: scenNop, Case: "qd1", Impl: implAio, OpsPerS: aioNop},
			{Scenario: scenNop, Case: "qd1", Impl: implRawRing, OpsPerS: 1000},
		}}
		p := filepath.Join(dir, name)
		var b bytes.Buffer
		if err := rep.writeJSON(&b); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// tcp-echo aioring: OLD 90-110k, NEW 130-150k (apart: moved up);
	// nop aioring: OLD 400-600, NEW 500-700 (overlapping: within).
	olds := []string{write("o1.json", 100_000, 50_000, 400), write("o2.json", 90_000, 51_000, 600), write("o3.json", 110_000, 49_000, 500)}
	news := []string{write("n1.json", 140_000, 50_000, 700), write("n2.json", 130_000, 50_000, 500), write("n3.json", 150_000, 52_000, 650)}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-compare", strings.Join(olds, ","), strings.Join(news, ",")}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit status %d: %s", code, stderr.String())
	}
	out := stdout.String()
	line := func(scen, impl string) string {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, scen+" ") && strings.Contains(l, " "+impl+" ") {
				return l
			}
		}
		t.Fatalf("no %s %s row in:\n%s", scen, impl, out)
		return ""
	}
	if l := line(scenTCP, implAio); !strings.Contains(l, "100.0k [90.0k-110.0k]") || !strings.Contains(l, "+40.0%") || !strings.Contains(l, "MOVED up") {
		t.Errorf("tcp-echo aioring: want the median 100.0k [90.0k-110.0k], +40.0%% and MOVED up:\n%s", l)
	}
	if l := line(scenNop, implAio); !strings.Contains(l, "within the spread") || strings.Contains(l, "MOVED") {
		t.Errorf("nop aioring should be within the spread:\n%s", l)
	}
	if !strings.Contains(out, "aioring rows that moved: 1.") {
		t.Errorf("want one moved row:\n%s", out)
	}
	// A side mixing conditions is a usage error.
	stressed := filepath.Join(dir, "s.json")
	var b bytes.Buffer
	(&report{Mode: "quick", Stress: true, Results: []*result{{Scenario: scenNop, Case: "qd1", Impl: implAio, OpsPerS: 1}}}).writeJSON(&b)
	os.WriteFile(stressed, b.Bytes(), 0o644)
	stderr.Reset()
	if code := run([]string{"-compare", olds[0] + "," + stressed, news[0]}, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "one mode and condition") {
		t.Errorf("mixed conditions on one side: exit %d, %q", code, stderr.String())
	}
}
