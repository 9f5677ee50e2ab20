package ring

import (
	"errors"
	"os"
	"strings"
	"syscall"
)

// SetupError explains why io_uring_setup failed. It matches
// errors.ErrUnsupported when io_uring cannot be used on this system at all
// (as opposed to a resource shortage, which a retry or a limit may cure), and
// the underlying errno through errors.Is.
type SetupError struct {
	Errno       syscall.Errno // what io_uring_setup returned
	Cause       string        // which condition we diagnosed
	Fix         string        // what the operator can do about it
	Unavailable bool          // io_uring cannot be used here at all
}

func (e *SetupError) Error() string {
	var b strings.Builder
	b.WriteString("io_uring_setup: ")
	b.WriteString(e.Errno.Error())
	if e.Cause != "" {
		b.WriteString(": ")
		b.WriteString(e.Cause)
	}
	if e.Fix != "" {
		b.WriteString("; ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

// Is reports a match for errors.ErrUnsupported when io_uring is unavailable.
func (e *SetupError) Is(target error) bool {
	return target == errors.ErrUnsupported && e.Unavailable
}

// Unwrap exposes the errno.
func (e *SetupError) Unwrap() error { return e.Errno }

// diagnoseSetup turns an io_uring_setup errno into an explanation. It reads
// the sysctl and the process's seccomp mode, both of which the kernel reports
// as a bare EPERM or ENOSYS.
func diagnoseSetup(errno syscall.Errno) *SetupError {
	e := &SetupError{Errno: errno}
	switch errno {
	case syscall.ENOSYS:
		e.Unavailable = true
		if seccompFiltered() {
			e.Cause = "the system call is blocked by a seccomp filter (a container runtime's default profile does this)"
			e.Fix = "run with a seccomp profile that allows io_uring_setup, io_uring_enter and io_uring_register"
		} else {
			e.Cause = "this kernel has no io_uring (older than 5.1 or built without CONFIG_IO_URING)"
			e.Fix = "use Linux 5.19 or later"
		}
	case syscall.EPERM, syscall.EACCES:
		e.Unavailable = true
		switch disabled := readSysctl(ioUringDisabledPath); disabled {
		case "2":
			e.Cause = "io_uring is disabled by sysctl kernel.io_uring_disabled=2"
			e.Fix = "enable it with 'sysctl -w kernel.io_uring_disabled=0'"
		case "1":
			e.Cause = "io_uring is restricted by sysctl kernel.io_uring_disabled=1 to CAP_SYS_ADMIN and the group in kernel.io_uring_group"
			e.Fix = "add this user to that group, or set 'sysctl -w kernel.io_uring_disabled=0'"
		default:
			if seccompFiltered() {
				e.Cause = "the system call is blocked by a seccomp filter (a container runtime's default profile does this)"
				e.Fix = "run with a seccomp profile that allows io_uring_setup, io_uring_enter and io_uring_register"
			} else {
				e.Cause = "the kernel refused io_uring to this process (a security module or sandbox policy)"
				e.Fix = "allow io_uring for this process"
			}
		}
	case syscall.EINVAL:
		e.Unavailable = true
		e.Cause = "the kernel rejected even the most basic ring parameters (kernel too old)"
		e.Fix = "use Linux 5.19 or later"
	case syscall.ENOMEM:
		e.Cause = "not enough locked memory for the ring (RLIMIT_MEMLOCK, or kernel memory)"
		e.Fix = "raise 'ulimit -l' or use fewer or smaller rings"
	case syscall.EMFILE, syscall.ENFILE:
		e.Cause = "out of file descriptors"
		e.Fix = "raise 'ulimit -n' or close descriptors"
	}
	return e
}

// ioUringDisabledPath is the sysctl diagnoseSetup reads. It is a variable
// only so that tests can explain EPERM for each setting without changing
// the machine-wide sysctl.
var ioUringDisabledPath = "/proc/sys/kernel/io_uring_disabled"

func readSysctl(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// seccompFiltered reports whether this process runs under a seccomp filter
// ("Seccomp: 2" in /proc/self/status).
func seccompFiltered() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Seccomp:"); ok {
			return strings.TrimSpace(v) == "2"
		}
	}
	return false
}

// MissingFeatureError reports that the kernel's io_uring lacks a feature
// (an IORING_FEAT_* bit) that its user relies on; it matches
// errors.ErrUnsupported. The ring is usable; its user decides.
type MissingFeatureError struct {
	Feature string // the feature and the kernel version that brought it, e.g. "IORING_FEAT_NODROP (5.5)"
}

func (e *MissingFeatureError) Error() string {
	return "io_uring: kernel lacks " + e.Feature + "; use Linux 5.19 or later"
}

// Is matches errors.ErrUnsupported.
func (e *MissingFeatureError) Is(target error) bool { return target == errors.ErrUnsupported }
