package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// fioPath is fio's path, or "" when it is not installed.
func fioPath() string {
	p, err := exec.LookPath("fio")
	if err != nil {
		return ""
	}
	return p
}

// fioDir is one direction of a fio job's report.
type fioDir struct {
	IOPS     float64 `json:"iops"`
	TotalIOs uint64  `json:"total_ios"`
	Runtime  float64 `json:"runtime"` // ms
	// Lat is the whole latency of an I/O, from its submission to its
	// completion, which is what the other implementations time (from
	// before ReadAt to its callback or return); clat_ns, fio's default
	// percentiles, leaves out the submission (slat_ns). Its percentiles
	// are there with --lat_percentiles=1.
	Lat struct {
		Max        float64            `json:"max"`
		Percentile map[string]float64 `json:"percentile"`
	} `json:"lat_ns"`
}

// fioOutput is the part of fio's JSON report the suite reads.
type fioOutput struct {
	Jobs []struct {
		Error  int     `json:"error"`
		UsrCPU float64 `json:"usr_cpu"` // percent of the job's run time
		SysCPU float64 `json:"sys_cpu"`
		Read   fioDir  `json:"read"`
		Write  fioDir  `json:"write"`
	} `json:"jobs"`
}

// fioBlocks runs fio's io_uring engine on the same file with the same
// block size, depth and (direct or cached) mode as the other
// implementations: random reads, or for write-cached random writes (the
// file synced first, as each implementation's run begins: blocksFile).
func fioBlocks(ctx context.Context, c *children, fio string, s *spec) (*result, error) {
	direct := "0"
	if s.Direct {
		direct = "1"
	}
	rw, what := "randread", "reads"
	if s.Scenario == scenWriteCached {
		rw, what = "randwrite", "writes"
		if err := syncFile(s.File); err != nil {
			return nil, err
		}
	}
	ms := func(d time.Duration) string { return strconv.FormatInt(max(d.Milliseconds(), 1), 10) + "ms" }
	cmd := exec.CommandContext(ctx, fio,
		"--name=r", "--filename="+s.File, "--ioengine=io_uring", "--rw="+rw,
		"--bs=4k", "--iodepth="+strconv.Itoa(s.Depth), "--direct="+direct,
		"--size="+strconv.FormatInt(s.FileSize, 10),
		// Keep the page cache: the cached case wants the file resident, and
		// fio's default drops it before the job.
		"--invalidate=0",
		"--ramp_time="+ms(s.Warmup), "--runtime="+ms(s.Window), "--time_based",
		"--lat_percentiles=1", "--output-format=json")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := c.runCmd(cmd)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("fio: %v: %s", err, strings.TrimSpace(errb.String()))
	}
	return fioResult(out.Bytes(), what, rw == "randwrite", strings.TrimSpace(errb.String()))
}

// fioResult reads fio's JSON report (out) of one job of reads or, with
// write, writes; stderr is what fio printed there, for the errors.
func fioResult(out []byte, what string, write bool, stderr string) (*result, error) {
	// fio may print warnings before the JSON object.
	js := out
	if i := bytes.IndexByte(js, '{'); i > 0 {
		js = js[i:]
	}
	var fo fioOutput
	if err := json.Unmarshal(js, &fo); err != nil {
		return nil, fmt.Errorf("reading fio's JSON report: %w", err)
	}
	if len(fo.Jobs) != 1 || fo.Jobs[0].Error != 0 {
		return nil, fmt.Errorf("fio reported no %s: %s", what, stderr)
	}
	j := fo.Jobs[0]
	d := j.Read
	if write {
		d = j.Write
	}
	if d.TotalIOs == 0 {
		return nil, fmt.Errorf("fio reported no %s: %s", what, stderr)
	}
	secs := d.Runtime / 1e3
	r := &result{
		Ops:        d.TotalIOs,
		Seconds:    secs,
		OpsPerS:    d.IOPS,
		MBPerS:     d.IOPS * blockSize / 1e6,
		CPUSeconds: (j.UsrCPU + j.SysCPU) / 100 * secs,
		P50us:      d.Lat.Percentile["50.000000"] / 1e3,
		P99us:      d.Lat.Percentile["99.000000"] / 1e3,
		MaxUs:      d.Lat.Max / 1e3,
	}
	r.CPUSPerMop = r.CPUSeconds / float64(r.Ops) * 1e6
	return r, nil
}
