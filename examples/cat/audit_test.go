//go:build linux

package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aioring/aioring/examples/internal/exampletest"
)

// A pipe or FIFO has no offsets: several reads in flight on it take the
// stream's bytes in whatever order they complete. cat must print a pipe's
// bytes in order, as coreutils cat does (here through a FIFO, as
// `cat <(cmd)` or `cat /dev/stdin` with a pipe give it).
func TestAuditCatFIFOInOrder(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	want := make([]byte, 4<<20+17)
	for i := range want {
		want[i] = byte(r.Uint32())
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		f.Write(want)
		f.Close()
	}()
	var out, errOut bytes.Buffer
	if code := run([]string{"-inflight", "4", "-chunk", "65536", fifo}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !bytes.Equal(out.Bytes(), want) {
		i := 0
		for i < min(out.Len(), len(want)) && out.Bytes()[i] == want[i] {
			i++
		}
		t.Errorf("cat of a FIFO printed %d bytes differing from the %d written at byte %d", out.Len(), len(want), i)
	}
}

// cat with no FILE (its usage says FILE...) must not silently succeed.
func TestAuditCatNoFile(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "usage") {
		t.Errorf("cat with no FILE: exit %d, stderr %q; want 2 and the usage", code, errOut.String())
	}
}

// A -chunk too large to allocate, or many more readers than the file has
// chunks, must be a usage error or just work, not a runtime crash.
func TestAuditCatHugeFlags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "cat")
	exampletest.Build(t, bin)
	name := filepath.Join(t.TempDir(), "small")
	os.WriteFile(name, []byte("small\n"), 0o600)

	cmd := exec.Command(bin, "-chunk", "99999999999999", name)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), "-chunk") ||
		strings.Contains(stderr.String(), "fatal error") {
		t.Errorf("cat -chunk 99999999999999: %v, stderr %.200q; want exit 2 naming -chunk", err, stderr.String())
	}

	// 10 million readers of a 6-byte file: one or two are of use. Under a
	// 2 GiB address space limit, so a failure is a quick out-of-memory
	// exit rather than the machine's OOM killer.
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	cmd = exec.Command(prlimit, "--as=2147483648", bin, "-inflight", "10000000", name)
	stderr.Reset()
	cmd.Stderr = &stderr
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.Output()
	if err != nil || string(out) != "small\n" {
		t.Errorf("cat -inflight 10000000 of a small file: %v, stdout %q, stderr %.200q", err, out, stderr.String())
	}
}
