//go:build linux

package main

import (
	"bytes"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aioring/aioring/examples/internal/exampletest"
)

func randFile(t *testing.T, path string, size int, seed uint64) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	return b
}

func cp(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stderr bytes.Buffer
	code := run(args, &stderr)
	return code, stderr.String()
}

// noTemps fails if a temporary name of cp is left in dir.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".cp-") {
			t.Errorf("temporary %s left in %s", e.Name(), dir)
		}
	}
}

func TestCopyFile20MiB(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	// 20 MiB and a tail that fills no whole block or sector.
	want := randFile(t, src, 20<<20+123, 1)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"default", nil},
		{"n1", []string{"-n", "1", "-bs", "1000000"}},
		{"n32-small-blocks", []string{"-n", "32", "-bs", "65536"}},
		{"direct", []string{"-direct", "-n", "16", "-bs", "100000"}},
		{"progress", []string{"-progress", "on"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(dir, "dst-"+tc.name)
			code, stderr := cp(t, append(tc.args, src, dst)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			got, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("the copy (%d bytes) differs from the source (%d bytes)", len(got), len(want))
			}
			if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o640 {
				t.Errorf("mode %v, want the source's 0640", fi.Mode().Perm())
			}
			if tc.name == "progress" && !strings.Contains(stderr, "100%") {
				t.Errorf("-progress on drew no finished bar: %q", stderr)
			}
			if tc.name != "progress" && stderr != "" {
				t.Errorf("unexpected stderr: %q", stderr)
			}
		})
	}
	noTemps(t, dir)

	// Over an existing file: replaced.
	dst := filepath.Join(dir, "dst-default")
	small := randFile(t, src, 5000, 9)
	if code, stderr := cp(t, src, dst); code != 0 {
		t.Fatalf("copy over a file: exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, small) {
		t.Error("copy over an existing file did not replace it")
	}
}

func TestCopyTree(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "tree")
	for _, d := range []string{"a", "a/b", "a/b/c", "empty"} {
		os.MkdirAll(filepath.Join(src, d), 0o755)
	}
	for i, f := range []struct {
		name string
		size int
	}{{"top", 1}, {"zero", 0}, {"a/x", 4095}, {"a/y", 4097}, {"a/b/z", 300_000}, {"a/b/c/w", 1 << 20}} {
		randFile(t, filepath.Join(src, f.name), f.size, uint64(i))
	}
	os.Symlink("a/x", filepath.Join(src, "link"))
	os.Chmod(filepath.Join(src, "a/b"), 0o750)

	dst := filepath.Join(dir, "copy")
	if code, stderr := cp(t, "-n", "4", "-bs", "8192", src, dst); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	compareTrees(t, src, dst)

	// Into an existing directory: under the source's base name.
	into := filepath.Join(dir, "into")
	os.Mkdir(into, 0o755)
	if code, stderr := cp(t, "-direct", src, into); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	compareTrees(t, src, filepath.Join(into, "tree"))
	noTemps(t, dir)
	noTemps(t, into)
}

func compareTrees(t *testing.T, a, b string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(a, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a, path)
		other := filepath.Join(b, rel)
		ia, _ := os.Lstat(path)
		ib, err := os.Lstat(other)
		if err != nil {
			t.Errorf("%s missing from the copy", rel)
			return nil
		}
		n++
		if ia.Mode() != ib.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, ib.Mode(), ia.Mode())
		}
		switch {
		case ia.Mode().IsRegular():
			x, _ := os.ReadFile(path)
			y, _ := os.ReadFile(other)
			if !bytes.Equal(x, y) {
				t.Errorf("%s: contents differ", rel)
			}
		case ia.Mode()&fs.ModeSymlink != 0:
			x, _ := os.Readlink(path)
			y, _ := os.Readlink(other)
			if x != y {
				t.Errorf("%s: link to %q, want %q", rel, y, x)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	m := 0
	filepath.WalkDir(b, func(string, fs.DirEntry, error) error { m++; return nil })
	if m != n {
		t.Errorf("the copy has %d entries, the source %d", m, n)
	}
}

// A copy that cannot be written leaves nothing under the final name (and
// an existing destination unchanged).
func TestCopyFailureLeavesNoDestination(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	randFile(t, src, 4<<20, 3)

	t.Run("destination-directory-is-a-file", func(t *testing.T) {
		notDir := filepath.Join(dir, "plainfile")
		os.WriteFile(notDir, nil, 0o600)
		code, stderr := cp(t, src, filepath.Join(notDir, "dst"))
		if code == 0 {
			t.Fatal("copy under a regular file succeeded")
		}
		if !strings.Contains(stderr, "not a directory") {
			t.Errorf("stderr %q should say why", stderr)
		}
	})

	t.Run("destination-directory-missing", func(t *testing.T) {
		dst := filepath.Join(dir, "nodir", "dst")
		if code, _ := cp(t, src, dst); code == 0 {
			t.Fatal("copy into a missing directory succeeded")
		}
		if _, err := os.Lstat(dst); err == nil {
			t.Error("a file exists under the final name")
		}
	})

	// Running as root, permissions do not stop writes; a file size limit
	// does, in the middle of the copy (EFBIG after 1 MiB of 4 MiB).
	t.Run("write-fails-midway", func(t *testing.T) {
		prlimit, err := exec.LookPath("prlimit")
		if err != nil {
			t.Skip("prlimit (util-linux) is not installed; it sets the file size limit of the copy")
		}
		bin := filepath.Join(t.TempDir(), "cp")
		exampletest.Build(t, bin)
		out := filepath.Join(dir, "out")
		os.Mkdir(out, 0o755)
		dst := filepath.Join(out, "dst")
		old := []byte("the previous contents\n")
		os.WriteFile(dst, old, 0o644)
		for _, extra := range [][]string{nil, {"-direct"}} {
			args := append([]string{"--fsize=1048576", bin}, extra...)
			cmd := exec.Command(prlimit, append(args, src, dst)...)
			stderr, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("cp %v under a 1 MiB file size limit succeeded", extra)
			}
			if !strings.Contains(string(stderr), "file too large") {
				t.Errorf("cp %v: stderr %q, want the EFBIG failure", extra, stderr)
			}
			if got, _ := os.ReadFile(dst); !bytes.Equal(got, old) {
				t.Errorf("cp %v: a failed copy changed the existing destination", extra)
			}
			noTemps(t, out)
		}

		// A tree whose second file fails: no tree under the final name.
		tree := filepath.Join(dir, "tree")
		os.MkdirAll(filepath.Join(tree, "sub"), 0o755)
		randFile(t, filepath.Join(tree, "a"), 1000, 4)
		randFile(t, filepath.Join(tree, "sub", "big"), 2<<20, 5)
		tdst := filepath.Join(out, "treecopy")
		if err := exec.Command(prlimit, "--fsize=1048576", bin, tree, tdst).Run(); err == nil {
			t.Fatal("tree copy under a 1 MiB file size limit succeeded")
		}
		if _, err := os.Lstat(tdst); err == nil {
			t.Error("a failed tree copy left a tree under the final name")
		}
		noTemps(t, out)
	})
}

func TestUsage(t *testing.T) {
	if code, stderr := cp(t, "onlyone"); code != 2 || !strings.Contains(stderr, "usage") {
		t.Errorf("one argument: exit %d, %q; want 2 and the usage", code, stderr)
	}
}
