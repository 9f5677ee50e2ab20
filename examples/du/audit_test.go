//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aioring/aioring/examples/internal/exampletest"
)

// With several PATHs, du -s --apparent-size --block-size=1 counts each
// file once over all of them: a hard link into an earlier PATH, a PATH
// given twice, or a PATH inside an earlier one adds nothing (and a PATH
// wholly seen gets no line).
func TestAuditSeveralPathsCountOnce(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "du")
	exampletest.Build(t, bin)
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	os.MkdirAll(filepath.Join(a, "sub"), 0o755)
	os.Mkdir(b, 0o755)
	os.WriteFile(filepath.Join(a, "f"), make([]byte, 10000), 0o644)
	os.WriteFile(filepath.Join(a, "sub", "g"), make([]byte, 3000), 0o644)
	if err := os.Link(filepath.Join(a, "f"), filepath.Join(b, "h")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{a, b}, {b, a}, {a, a}, {a, filepath.Join(a, "sub")}, {filepath.Join(a, "sub"), a}} {
		want, err := exec.Command("du", append([]string{"-s", "--apparent-size", "--block-size=1"}, args...)...).Output()
		if err != nil {
			t.Skipf("no GNU du to compare with: %v", err)
		}
		got, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("du %q: %v", args, err)
		}
		if string(got) != string(want) {
			t.Errorf("du %q:\n%s\nGNU du:\n%s", args, strings.ReplaceAll(string(got), root, "ROOT"), strings.ReplaceAll(string(want), root, "ROOT"))
		}
	}
}
