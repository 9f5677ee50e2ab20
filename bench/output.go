package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// outFile is an output written through a temporary file in the same
// directory and renamed into place, so a reader never sees a partial file
// and an interrupted run leaves none behind.
type outFile struct {
	path string
	tmp  *os.File
}

// createOutFile makes the temporary file at once, so that an unwritable
// path is reported before anything is measured.
func createOutFile(flagName, path string) (*outFile, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, usagef("%s %s: cannot write there (%v): choose a writable path", flagName, path, err)
	}
	return &outFile{path: path, tmp: tmp}, nil
}

// commit writes the content and renames the file into place.
func (o *outFile) commit(write func(io.Writer) error) error {
	w := bufio.NewWriter(o.tmp)
	err := write(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		// CreateTemp makes the file private; the output is an ordinary file.
		err = o.tmp.Chmod(0o644)
	}
	if err == nil {
		err = o.tmp.Close()
	}
	if err == nil {
		err = os.Rename(o.tmp.Name(), o.path)
	}
	if err != nil {
		o.abort()
		return fmt.Errorf("writing %s: %w", o.path, err)
	}
	return nil
}

// abort removes the temporary file if it is still there.
func (o *outFile) abort() {
	o.tmp.Close()
	os.Remove(o.tmp.Name())
}

// report is everything a run measured.
type report struct {
	Mode string `json:"mode"`
	// Backend is aioring's backend (-backend): io_uring or portable.
	Backend string `json:"backend,omitempty"`
	// RingOnly: -ring-only, aioring's engines ran with Config.RingOnly.
	RingOnly bool `json:"ring_only,omitempty"`
	// Stress says whether CPU burners ran beside every case (-stress), and
	// StressProcs how many; Procs is the GOMAXPROCS of every measured
	// process (-procs), 0 when not set.
	Stress      bool `json:"stress"`
	StressProcs int  `json:"stress_procs,omitempty"`
	Procs       int  `json:"procs"`
	// Count is how many runs of every case each row is the median of
	// (-count); 0 or 1: one.
	Count       int       `json:"count,omitempty"`
	Started     time.Time `json:"started"`
	WallSeconds float64   `json:"wall_s"`
	Kernel      string    `json:"kernel"`
	GoVersion   string    `json:"go"`
	CPUs        int       `json:"cpus"`
	// LoadAvg is /proc/loadavg's 1-minute figure at the start and the end:
	// other work on the machine skews every figure, so the reader should
	// know about it.
	LoadAvg [2]float64 `json:"loadavg"`
	Notes   []string   `json:"notes"`
	Results []*result  `json:"results"`
}

func (r *report) fillHost() {
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		r.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	r.GoVersion = runtime.Version()
	r.LoadAvg[1] = loadAvg()
	r.CPUs = runtime.NumCPU()
}

func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// writeTable prints the fixed-width table and its footnotes.
func writeTable(w io.Writer, r *report) {
	runs := ""
	if r.Count > 1 {
		runs = fmt.Sprintf(", median [min-max] of %d runs", r.Count)
	}
	fmt.Fprintf(w, "aioring benchmark suite, %s mode, %s%s: Linux %s, %s, %d CPUs, %.0f s, load average %.1f at the start and %.1f at the end\n\n",
		r.Mode, r.condition(), runs, r.Kernel, r.GoVersion, r.CPUs, r.WallSeconds, r.LoadAvg[0], r.LoadAvg[1])
	type cells struct {
		x        *result
		ops, mbs string
	}
	var rows []cells
	opsW, mbW := 9, 8
	for _, x := range r.Results {
		c := cells{x: x, ops: si(x.OpsPerS), mbs: num(x.MBPerS, 1)}
		if len(x.Runs) > 1 {
			if x.Scenario == scenCopy {
				c.mbs = fmt.Sprintf("%s [%s-%s]", num(x.MBPerS, 1), num(x.Min, 1), num(x.Max, 1))
			} else {
				c.ops = fmt.Sprintf("%s [%s-%s]", si(x.OpsPerS), si(x.Min), si(x.Max))
			}
		}
		opsW, mbW = max(opsW, len(c.ops)), max(mbW, len(c.mbs))
		rows = append(rows, c)
	}
	row := "%-11s %-10s %-14s %" + strconv.Itoa(opsW) + "s %" + strconv.Itoa(mbW) + "s %9s %8s %8s %8s %8s %4s %7s %7s %6s %6s  %-26s %s\n"
	fmt.Fprintf(w, row, "SCENARIO", "CASE", "IMPL", "OPS/S", "MB/S", "CPU/MOP", "SRV/MOP", "P50us", "P99us", "MAXus", "THR", "SYS/OP", "CSW/OP", "RATIO", "CPU-R", "TARGET (aioring vs this)", "RESULT")
	fmt.Fprintln(w, strings.Repeat("-", 160+opsW-9+mbW-8))
	prev := ""
	for _, c := range rows {
		x := c.x
		if prev != "" && x.Scenario != prev {
			fmt.Fprintln(w)
		}
		prev = x.Scenario
		cpu := num(x.CPUSPerMop, 2)
		if x.CPUSPerGiB > 0 {
			cpu = num(x.CPUSPerGiB, 2) + "/G"
		}
		res := "-"
		switch {
		case x.Note != "":
			res = x.Note
		case x.Impl == implAio:
			res = ""
		case x.Met != nil && *x.Met:
			res = "met"
			if x.TargetRatio > 0 {
				res += fmt.Sprintf(" (%.2fx)", x.TargetRatio)
			}
		case x.Met != nil:
			res = "MISSED: " + x.Miss
		}
		if x.Lost > 0 {
			// udp-echo: a lost datagram is worth a word in the row.
			lost := fmt.Sprintf("LOST %d datagrams", x.Lost)
			if res == "" || res == "-" {
				res = lost
			} else {
				res += "; " + lost
			}
		}
		tgt := x.Target
		if tgt == "" && x.Impl != implAio {
			tgt = "-"
		}
		fmt.Fprintf(w, row, x.Scenario, x.Case, x.Impl, c.ops, c.mbs, cpu, num(x.ServerCPUSPerMop, 2),
			lat(x.P50us), lat(x.P99us), lat(x.MaxUs), count(x.Threads), perOp(x.SyscallsPerOp), perOp(x.CtxswPerOp),
			ratio(x.Ratio), ratio(x.CPURatio), tgt, res)
	}
	fmt.Fprintln(w)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "* %s\n", n)
	}
}

// perOp formats a count per operation, "-" when absent: three significant
// digits, since a chain of 32 reads in flight makes 0.03 system calls per
// read and a wake-up per thousand operations still shows.
func perOp(v *float64) string {
	switch {
	case v == nil:
		return "-"
	case *v == 0:
		return "0"
	case *v >= 100:
		return fmt.Sprintf("%.0f", *v)
	}
	return fmt.Sprintf("%.3g", *v)
}

// condition says what the machine was put through: quiet, -stress, -procs.
func (r *report) condition() string {
	c := "quiet machine"
	if r.Stress {
		c = fmt.Sprintf("-stress (%d CPU-bound processes beside every case)", r.StressProcs)
	}
	if r.Procs > 0 {
		c += fmt.Sprintf(", -procs %d (GOMAXPROCS=%d in every measured process)", r.Procs, r.Procs)
	} else {
		c += ", GOMAXPROCS not set"
	}
	if r.RingOnly {
		c += ", -ring-only (Config.RingOnly)"
	}
	return c
}

// loadAvg is the 1-minute load average, 0 when unknown.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func si(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func num(v float64, prec int) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

func lat(us float64) string {
	switch {
	case us == 0:
		return "-"
	case us < 100:
		return fmt.Sprintf("%.1f", us)
	}
	return fmt.Sprintf("%.0f", us)
}

func count(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func ratio(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", v)
}
