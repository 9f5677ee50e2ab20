//go:build linux

package ring

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// EPERM from io_uring_setup is explained by the kernel.io_uring_disabled
// sysctl. The machine's sysctl is not touched: the test points the
// diagnosis at a file holding each setting.
func TestDiagnoseSysctlDisabled(t *testing.T) {
	if seccompFiltered() {
		t.Skip("this process runs under seccomp; the diagnosis would name it first for setting 0")
	}
	saved := ioUringDisabledPath
	t.Cleanup(func() { ioUringDisabledPath = saved })
	for _, tc := range []struct {
		setting    string
		cause, fix string
	}{
		{"2", "kernel.io_uring_disabled=2", "sysctl -w kernel.io_uring_disabled=0"},
		{"1", "kernel.io_uring_disabled=1", "add this user to that group"},
		{"0", "refused io_uring to this process", "allow io_uring"},
	} {
		path := filepath.Join(t.TempDir(), "io_uring_disabled")
		if err := os.WriteFile(path, []byte(tc.setting+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		ioUringDisabledPath = path
		for _, errno := range []syscall.Errno{syscall.EPERM, syscall.EACCES} {
			var err error = diagnoseSetup(errno)
			msg := err.Error()
			if !errors.Is(err, errors.ErrUnsupported) || !errors.Is(err, errno) {
				t.Errorf("setting %s, %v: errors.Is(ErrUnsupported)=%v, errors.Is(errno)=%v; want both", tc.setting, errno,
					errors.Is(err, errors.ErrUnsupported), errors.Is(err, errno))
			}
			if !strings.Contains(msg, tc.cause) || !strings.Contains(msg, tc.fix) {
				t.Errorf("setting %s, %v: message %q does not name the cause %q and the fix %q", tc.setting, errno, msg, tc.cause, tc.fix)
			}
		}
	}
	// No sysctl at all (an older kernel): still explained, still unsupported.
	ioUringDisabledPath = filepath.Join(t.TempDir(), "absent")
	if err := diagnoseSetup(syscall.EPERM); !errors.Is(err, errors.ErrUnsupported) || err.Cause == "" || err.Fix == "" {
		t.Errorf("without the sysctl: %v", err)
	}
}

// Resource shortages are not "unsupported": a retry or a limit may cure
// them, and the message says which limit.
func TestDiagnoseShortagesAreNotUnsupported(t *testing.T) {
	for errno, fix := range map[syscall.Errno]string{syscall.ENOMEM: "ulimit -l", syscall.EMFILE: "ulimit -n", syscall.ENFILE: "ulimit -n"} {
		err := diagnoseSetup(errno)
		if errors.Is(err, errors.ErrUnsupported) || !errors.Is(err, errno) || !strings.Contains(err.Error(), fix) {
			t.Errorf("%v: %q (unsupported %v)", errno, err, errors.Is(err, errors.ErrUnsupported))
		}
	}
}
