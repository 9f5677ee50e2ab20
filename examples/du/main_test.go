//go:build linux

package main

import (
	"bytes"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/aioring/aioring/aio"
)

// makeTree builds a tree of dirs directories and files files of random
// sizes, with a symbolic link, a hard link and an empty directory.
func makeTree(t *testing.T, files, dirs int) string {
	root := filepath.Join(t.TempDir(), "tree")
	rng := rand.New(rand.NewPCG(uint64(files), 7))
	paths := []string{root}
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < dirs; i++ {
		d := filepath.Join(paths[rng.IntN(len(paths))], "d"+strconv.Itoa(i))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, d)
	}
	var first string
	for i := 0; i < files; i++ {
		p := filepath.Join(paths[rng.IntN(len(paths))], "f"+strconv.Itoa(i))
		if err := os.WriteFile(p, make([]byte, rng.IntN(70000)), 0o644); err != nil {
			t.Fatal(err)
		}
		if first == "" {
			first = p
		}
	}
	if err := os.Symlink("some/where/that/does/not/exist", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if first != "" {
		if err := os.Link(first, filepath.Join(paths[len(paths)-1], "hard")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

// walkTotal is the same total by filepath.WalkDir and Lstat, hard links
// counted once.
func walkTotal(t *testing.T, root string) int64 {
	var total int64
	seen := map[[2]uint64]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Nlink > 1 && !fi.IsDir() {
			k := [2]uint64{uint64(st.Dev), st.Ino} // Dev is 32 bits wide on some targets
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		total += fi.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// duTotal is du's own answer, or -1 without a GNU du.
func duTotal(t *testing.T, root string) int64 {
	out, err := exec.Command("du", "-s", "--apparent-size", "--block-size=1", root).Output()
	if err != nil {
		t.Logf("no GNU du to compare with: %v", err)
		return -1
	}
	n, err := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
	if err != nil {
		t.Fatalf("du printed %q", out)
	}
	return n
}

func TestUsageMatchesDuAndWalkDir(t *testing.T) {
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, tc := range []struct{ files, dirs, inflight int }{
		{0, 0, 64}, {1, 0, 1}, {300, 20, 64}, {2000, 150, 7}, {500, 400, 200},
	} {
		root := makeTree(t, tc.files, tc.dirs)
		var errs bytes.Buffer
		got, failed := Usage(e, root, tc.inflight, &errs)
		if failed != 0 {
			t.Errorf("%+v: %d failures: %s", tc, failed, errs.String())
		}
		if want := walkTotal(t, root); got != want {
			t.Errorf("%+v: Usage %d, filepath.WalkDir %d", tc, got, want)
		}
		if want := duTotal(t, root); want >= 0 && got != want {
			t.Errorf("%+v: Usage %d, du %d", tc, got, want)
		}
	}
}

// TestUsageErrors: a missing root, and a directory that cannot be listed
// (not as root, who reads any), are reported and counted as failures; the
// rest is still summed.
func TestUsageErrors(t *testing.T) {
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	root := makeTree(t, 50, 5)
	var errs bytes.Buffer
	if total, failed := Usage(e, filepath.Join(root, "missing"), 4, &errs); failed != 1 || total != 0 ||
		!strings.Contains(errs.String(), "no such file or directory") {
		t.Errorf("missing root: total %d, %d failures, %q; want 0, 1, ENOENT", total, failed, errs.String())
	}
	if os.Geteuid() == 0 {
		t.Skip("root reads any directory: no unreadable one to test")
	}
	want := walkTotal(t, root)
	locked := filepath.Join(root, "locked")
	if err := os.Mkdir(locked, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(locked, "x"), make([]byte, 100), 0o600)
	fi, _ := os.Lstat(locked)
	os.Chmod(locked, 0)
	defer os.Chmod(locked, 0o700)
	errs.Reset()
	got, failed := Usage(e, root, 16, &errs)
	if failed != 1 || !strings.Contains(errs.String(), "permission denied") {
		t.Errorf("failures %d, %q: want 1 permission denied", failed, errs.String())
	}
	if want += fi.Size(); got != want {
		t.Errorf("total %d, want %d (all but the locked directory's contents)", got, want)
	}
}

// TestCommand runs the program itself on a tree and checks its output.
func TestCommand(t *testing.T) {
	root := makeTree(t, 100, 10)
	out, err := exec.Command("go", "run", ".", "-n", "8", root).Output()
	if err != nil {
		t.Fatalf("go run: %v", err)
	}
	want := strconv.FormatInt(walkTotal(t, root), 10) + "\t" + root + "\n"
	if string(out) != want {
		t.Errorf("output %q, want %q", out, want)
	}

	// A PATH that is not there: an error, no total line for it, exit
	// status 1, and the other PATHs' totals still printed, as du does.
	missing := filepath.Join(t.TempDir(), "missing")
	cmd := exec.Command("go", "run", ".", missing, root)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("with a missing PATH: %v, want exit status 1", err)
	}
	if string(out) != want {
		t.Errorf("with a missing PATH: output %q, want %q", out, want)
	}
	if !strings.Contains(stderr.String(), "cannot access "+missing+": no such file or directory") {
		t.Errorf("with a missing PATH: standard error %q, want it to say it cannot access %s", stderr.String(), missing)
	}
}
