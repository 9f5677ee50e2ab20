// Package exampletest builds an example's program for its tests, with the
// race detector when the tests run with it, so that the program the tests
// start is checked as the tests are.
package exampletest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Build builds the package in the working directory (the example under
// test) into the file out.
func Build(t testing.TB, out string) {
	t.Helper()
	if err := build(out); err != nil {
		t.Fatal(err)
	}
}

func build(out string) error {
	args := append(append([]string{"build"}, raceFlags...), "-o", out, ".")
	if b, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, b)
	}
	return nil
}

// Binary is an example's program built once per test run, for packages
// whose tests start it many times. Remove deletes it; call it from
// TestMain after the tests.
type Binary struct {
	Name string // the file's name, for messages and ps

	once sync.Once
	path string
	err  error
}

// Path builds the program on the first call and returns its path.
func (b *Binary) Path(t testing.TB) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", b.Name+"-test")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, b.Name)
		b.err = build(b.path)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Remove deletes the built program, if any.
func (b *Binary) Remove() {
	if b.path != "" {
		os.RemoveAll(filepath.Dir(b.path))
	}
}
