//go:build linux

package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aioring/aioring/examples/internal/exampletest"
)

func TestCatPrintsExactBytes(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	var files []string
	var want []byte
	// Sizes around the chunk (1000 bytes below) and the in-flight window
	// (3 chunks), an empty file, and one large file.
	for i, size := range []int{0, 1, 999, 1000, 1001, 2999, 3000, 3001, 7777, 1 << 20} {
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		name := filepath.Join(dir, "f"+string(rune('a'+i)))
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
		want = append(want, b...)

		var out, errOut bytes.Buffer
		if code := run([]string{"-inflight", "3", "-chunk", "1000", name}, &out, &errOut); code != 0 {
			t.Fatalf("cat %d-byte file: exit %d, %s", size, code, errOut.String())
		}
		if !bytes.Equal(out.Bytes(), b) {
			t.Errorf("cat of a %d-byte file printed %d bytes, not the file", size, out.Len())
		}
	}
	var out, errOut bytes.Buffer
	if code := run(append([]string{"-inflight", "8"}, files...), &out, &errOut); code != 0 {
		t.Fatalf("cat of all files: exit %d, %s", code, errOut.String())
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("cat of all files printed %d bytes, want their %d bytes in order", out.Len(), len(want))
	}
}

func TestCatErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("ok\n"), 0o600)
	var out, errOut bytes.Buffer
	code := run([]string{filepath.Join(dir, "missing"), dir, good}, &out, &errOut)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if out.String() != "ok\n" {
		t.Errorf("stdout %q: the readable file should still be printed", out.String())
	}
	if !strings.Contains(errOut.String(), "no such file") || !strings.Contains(errOut.String(), "is a directory") {
		t.Errorf("stderr %q should name both failures", errOut.String())
	}
}

// The built program, run as a process, prints the file byte for byte.
func TestCatBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "cat")
	exampletest.Build(t, bin)
	b := bytes.Repeat([]byte("0123456789abcdef\n"), 50_000)
	name := filepath.Join(t.TempDir(), "in")
	os.WriteFile(name, b, 0o600)
	out, err := exec.Command(bin, name).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, b) {
		t.Errorf("the cat binary printed %d bytes, want the file's %d", len(out), len(b))
	}
}
