package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// auditSpec is a short closed-loop case for the load generators: a
// fraction of a second, one or two connections.
func auditSpec(conns, size int) *spec {
	return &spec{Conns: conns, MsgSize: size, Warmup: 0, Window: 200 * time.Millisecond}
}

// corruptEvery is how often the faulty servers below change a reply:
// often enough that the measured window meets one, rarely enough that
// some replies are counted first.
const corruptEvery = 20

// TestAuditEchoChecksEveryByte: a tcp-echo server that changes one byte
// in the middle of some replies must fail the case; a load generator that
// compares only the first and last bytes counts those replies as echoes.
func TestAuditEchoChecksEveryByte(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				// Whole messages: the load generator sends one and waits.
				buf := make([]byte, 1024)
				for n := 1; ; n++ {
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
					if n%corruptEvery == 0 {
						buf[len(buf)/2] ^= 0xff
					}
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	_, err = loadEcho(auditSpec(2, 1024), ln.Addr().String())
	if err == nil {
		t.Fatal("loadEcho counted echoes with a changed middle byte")
	}
	if !strings.Contains(err.Error(), "differs") {
		t.Fatalf("loadEcho failed for another reason: %v", err)
	}
}

// TestAuditUDPEchoChecksEveryByte: the same for udp-echo, where the
// sequence number and the last byte survive and a middle byte does not.
func TestAuditUDPEchoChecksEveryByte(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		buf := make([]byte, 2048)
		for n := 1; ; n++ {
			m, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if n%corruptEvery == 0 {
				buf[m/2] ^= 0xff
			}
			c.WriteToUDPAddrPort(buf[:m], from)
		}
	}()
	_, err = loadUDPEcho(auditSpec(1, 64), c.LocalAddr().String())
	if err == nil {
		t.Fatal("loadUDPEcho counted echoes with a changed middle byte")
	}
	if !strings.Contains(err.Error(), "differs") {
		t.Fatalf("loadUDPEcho failed for another reason: %v", err)
	}
}

// TestAuditHTTPChecksBody: an http server (here httptest's, standing for
// a transport that corrupts what it sends) whose body has the right
// length and the wrong bytes must fail the case.
func TestAuditHTTPChecksBody(t *testing.T) {
	var n atomic.Int64
	bad := bytes.Repeat([]byte{'x'}, httpBodySize)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%corruptEvery == 0 {
			w.Write(bad)
			return
		}
		w.Write(httpBody)
	}))
	defer srv.Close()
	_, err := loadHTTP(auditSpec(1, httpBodySize), srv.URL)
	if err == nil {
		t.Fatal("loadHTTP counted responses whose body was not httpBody")
	}
	if !strings.Contains(err.Error(), "body") {
		t.Fatalf("loadHTTP failed for another reason: %v", err)
	}
}

// TestAuditFioWholeLatency: fio's row must report the latency of a whole
// I/O, submission included, as the other implementations time it, not
// fio's default clat, which leaves the submission out.
func TestAuditFioWholeLatency(t *testing.T) {
	js := `fio-3: a warning
{"jobs":[{"error":0,"usr_cpu":10,"sys_cpu":40,"read":{"iops":1000,"total_ios":100,"runtime":100,
 "slat_ns":{"max":5000},
 "clat_ns":{"max":20000,"percentile":{"50.000000":1000,"99.000000":9000}},
 "lat_ns":{"max":25000,"percentile":{"50.000000":2000,"99.000000":12000}}},
 "write":{"total_ios":0}}]}`
	r, err := fioResult([]byte(js), "reads", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.P50us != 2 || r.P99us != 12 || r.MaxUs != 25 {
		t.Fatalf("p50 %v p99 %v max %v us; want lat_ns's 2, 12, 25 (clat_ns's are 1, 9, 20)", r.P50us, r.P99us, r.MaxUs)
	}

	// And fio, run as the suite runs it, reports those percentiles (with
	// --lat_percentiles=1; without it lat_ns has none).
	fio := fioPath()
	if fio == "" {
		t.Skip("fio not installed")
	}
	f := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(f, make([]byte, 4*miB), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &spec{Scenario: scenCached, File: f, FileSize: 4 * miB, Depth: 4, Warmup: 50 * time.Millisecond, Window: 100 * time.Millisecond}
	r, err = fioBlocks(context.Background(), &children{}, fio, s)
	if err != nil {
		t.Fatal(err)
	}
	if r.P50us <= 0 || r.P99us < r.P50us || r.MaxUs < r.P99us {
		t.Fatalf("fio's row: p50 %v p99 %v max %v us", r.P50us, r.P99us, r.MaxUs)
	}
}

// TestAuditLogAckMeansLogged: a log that acknowledges records it never
// wrote must fail the case; both real logs pass the same check.
func TestAuditLogAckMeansLogged(t *testing.T) {
	s := &spec{Scenario: scenLog, Conns: 4, MsgSize: 128, Warmup: 0, Window: 100 * time.Millisecond}
	_, err := logLoop(s, func(r *logRecordReq) { r.done <- struct{}{} }, func() (int64, error) { return 0, nil })
	if err == nil || !strings.Contains(err.Error(), "acknowledged") {
		t.Fatalf("a log that wrote nothing: %v", err)
	}
	for _, run := range []struct {
		impl string
		f    func(*spec) (*result, error)
	}{{implStd, logStd}, {implAio, logAio}} {
		s := *s
		s.Impl, s.File = run.impl, filepath.Join(t.TempDir(), "log")
		r, err := run.f(&s)
		if err != nil {
			t.Fatalf("%s: %v", run.impl, err)
		}
		if r.Ops == 0 {
			t.Fatalf("%s: no record counted", run.impl)
		}
	}
}

// TestAuditRoundRunSkipsWarmup: the files and stat scenarios' window is
// the rounds after the warm-up, as roundRun says, not every round since
// the first.
func TestAuditRoundRunSkipsWarmup(t *testing.T) {
	s := &spec{Files: 1, Warmup: 300 * time.Millisecond, Window: 100 * time.Millisecond}
	rounds := 0
	r, err := roundRun(s, func() (int64, error) {
		rounds++
		time.Sleep(10 * time.Millisecond)
		return 0, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Seconds >= 0.3 || r.Ops >= uint64(rounds-1) {
		t.Fatalf("%d rounds of %d counted over %.2f s: the %v warm-up was measured", r.Ops, rounds, r.Seconds, s.Warmup)
	}
}

// TestAuditNoCp: without cp(1), copy's cp row is absent with the reason,
// as a missing fio's rows are, not a failure of the run.
func TestAuditNoCp(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	s := &suite{ctx: context.Background(), kids: &children{}}
	r, err := s.measure(&spec{Scenario: scenCopy, Impl: implCp, File: "/nonexistent", Dst: filepath.Join(t.TempDir(), "copy")})
	if err != nil {
		t.Fatalf("a missing cp failed the row: %v", err)
	}
	if r.Note != "cp not installed" {
		t.Fatalf("note %q, want cp not installed", r.Note)
	}
}

// TestAuditRingOnlyEverywhere: -ring-only's header says aioring's
// engines ran with Config.RingOnly; the files and stat scenarios' engines
// (fileConfig) must too.
func TestAuditRingOnlyEverywhere(t *testing.T) {
	t.Setenv(ringOnlyEnv, "1")
	if !fileConfig().RingOnly {
		t.Fatal("fileConfig ignores -ring-only")
	}
	t.Setenv(statxInlineEnv, "1")
	if c := fileConfig(); !c.RingOnly || !c.StatxInline {
		t.Fatalf("fileConfig with both: %+v", c)
	}
}
