//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aioring/aioring/examples/internal/exampletest"
)

// Copying a directory into itself (cp -r d d, or into one of its
// subdirectories) must be refused at once, as coreutils does, not walk
// the growing copy until the path is too long.
func TestAuditCopyTreeIntoItself(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "d")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	randFile(t, filepath.Join(src, "f"), 1000, 1)
	for _, dst := range []string{src, filepath.Join(src, "sub"), filepath.Join(src, "sub", "copy")} {
		code, stderr := cp(t, src, dst)
		if code != 1 || !strings.Contains(stderr, "into itself") || len(stderr) > 500 {
			t.Errorf("cp %s %s: exit %d, stderr %.300q; want 1 and that it cannot copy a directory into itself", src, dst, code, stderr)
		}
		noTemps(t, src)
		noTemps(t, filepath.Join(src, "sub"))
	}
	if ents, _ := os.ReadDir(filepath.Join(src, "sub")); len(ents) != 0 {
		t.Errorf("the failed copies left %d entries in %s", len(ents), filepath.Join(src, "sub"))
	}
}

// A file whose size says less than it holds (/proc's files say 0) must
// not be copied short with success.
func TestAuditCopyProcFile(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "status")
	code, stderr := cp(t, "/proc/self/status", dst)
	if code == 0 {
		got, _ := os.ReadFile(dst)
		if !bytes.HasPrefix(got, []byte("Name:")) {
			t.Errorf("cp /proc/self/status succeeded with %d bytes: %.60q", len(got), got)
		}
		return
	}
	if _, err := os.Lstat(dst); err == nil {
		t.Errorf("cp /proc/self/status failed (%s) but left a file", stderr)
	}
}

func TestAuditBadFlags(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	randFile(t, src, 100, 1)
	dst := filepath.Join(dir, "dst")
	if code, stderr := cp(t, "-progress", "bogus", src, dst); code != 2 || !strings.Contains(stderr, "-progress") {
		t.Errorf("-progress bogus: exit %d, stderr %q; want 2 naming -progress", code, stderr)
	}
	if _, err := os.Lstat(dst); err == nil {
		t.Error("-progress bogus copied anyway")
	}

	// A -bs too large to allocate: a usage error, not a runtime crash
	// (the built program: a crash would end the test binary).
	bin := filepath.Join(t.TempDir(), "cp")
	exampletest.Build(t, bin)
	cmd := exec.Command(bin, "-bs", "99999999999999", src, dst)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), "-bs") ||
		strings.Contains(stderr.String(), "fatal error") {
		t.Errorf("cp -bs 99999999999999: %v, stderr %.200q; want exit 2 naming -bs", err, stderr.String())
	}
}

// Ctrl-C (SIGINT) or SIGTERM in the middle of a copy: the copy fails, and
// as for any failed copy its temporary file must not stay behind (it held
// the whole reserved size).
func TestAuditInterruptLeavesNoTemp(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "cp")
	exampletest.Build(t, bin)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(256 << 20) // sparse: cheap to make, slow to copy 4 KiB at a time
	f.Close()
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		cmd := exec.Command(bin, "-n", "1", "-bs", "4096", src, filepath.Join(out, "dst"))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		cmd.Process.Signal(sig)
		err := cmd.Wait()
		if err == nil {
			t.Skipf("the copy finished before the %v", sig)
		}
		noTemps(t, out)
		if _, err := os.Lstat(filepath.Join(out, "dst")); err == nil {
			t.Errorf("an interrupted copy left the destination")
		}
	}
}
