//go:build linux

package scripts

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// runCheck runs `bash scripts/provision.sh --check-only` from the repository
// root, as a developer would, with the given extra environment. Overrides
// inherited from the caller's shell are dropped so that each case sees only
// its own.
func runCheck(t *testing.T, env ...string) (stdout, stderr string, err error) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("io_uring exists only on Linux; this is %s", runtime.GOOS)
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skipf("bash not found: %v", err)
	}
	cmd := exec.Command("bash", "scripts/provision.sh", "--check-only")
	cmd.Dir = ".." // the repository root
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AIORING_IO_URING_DISABLED_FILE=") &&
			!strings.HasPrefix(kv, "AIORING_KERNEL_RELEASE=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			t.Fatalf("could not run the check: %v", err)
		}
	}
	return out.String(), errOut.String(), err
}

// fakeSysctl writes value to a file standing in for
// /proc/sys/kernel/io_uring_disabled and returns the environment entry that
// points the script at it.
func fakeSysctl(t *testing.T, value string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "io_uring_disabled")
	if err := os.WriteFile(path, []byte(value+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return "AIORING_IO_URING_DISABLED_FILE=" + path
}

// TestCheckOnlyPassesHere expects io_uring to be usable on the machine running
// the tests: the project's development machines and CI have it enabled, and
// aioring's own tests could not pass otherwise.
func TestCheckOnlyPassesHere(t *testing.T) {
	stdout, stderr, err := runCheck(t)
	if err != nil {
		t.Fatalf("check failed (%v) on this machine:\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
	if !strings.Contains(stdout, "io_uring is usable") {
		t.Errorf("stdout = %q, want it to report io_uring as usable", stdout)
	}
}

func TestCheckOnlyFailures(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want []string // parts of the single line on stderr
	}{
		{
			name: "disabled for everyone",
			env:  []string{fakeSysctl(t, "2")},
			want: []string{"io_uring is disabled for all processes", "kernel.io_uring_disabled=2", "sysctl -w kernel.io_uring_disabled=0"},
		},
		{
			name: "garbage in sysctl file",
			env:  []string{fakeSysctl(t, "yes")},
			want: []string{"unexpected value 'yes'", "sysctl -w kernel.io_uring_disabled=0"},
		},
		{
			name: "kernel too old",
			env:  []string{"AIORING_KERNEL_RELEASE=5.15.0-91-generic"},
			want: []string{"kernel 5.15.0-91-generic is too old", "5.19 or later"},
		},
		{
			name: "unreadable kernel version",
			env:  []string{"AIORING_KERNEL_RELEASE=unknown"},
			want: []string{"cannot read a kernel version from 'unknown'"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := runCheck(t, tc.env...)
			if err == nil {
				t.Fatalf("check passed, want a failure\nstdout: %s", stdout)
			}
			if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 {
				t.Errorf("stderr has %d lines, want one:\n%s", len(lines), stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr = %q, want it to contain %q", stderr, w)
				}
			}
			if strings.Contains(stdout, "usable") {
				t.Errorf("stdout = %q, should not claim io_uring is usable", stdout)
			}
		})
	}
}

// TestCheckOnlyWithoutSysctl covers kernels from 5.19 to 6.5, which have
// io_uring but no kernel.io_uring_disabled switch: a missing file must not be
// taken as "disabled".
func TestCheckOnlyWithoutSysctl(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent")
	stdout, stderr, err := runCheck(t, "AIORING_IO_URING_DISABLED_FILE="+missing)
	if err != nil {
		t.Fatalf("check failed (%v) with no sysctl file:\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
}
