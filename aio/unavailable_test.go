//go:build linux

package aio

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// io_uring unavailable: the test binary re-runs itself in a child process
// that installs a seccomp filter making io_uring_setup fail, as a container
// runtime's default profile does, and then uses the API. The parent checks
// what the child saw: ErrUnsupported, a message naming the cause and the
// fix, and no panic.

const seccompHelperEnv = "AIORING_SECCOMP_HELPER" // "EPERM" or "ENOSYS": the errno the filter returns

// auditArch is the AUDIT_ARCH_* value seccomp reports for this process's
// native system calls, or 0 where the test does not know it.
func auditArch() uint32 {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64
	case "riscv64":
		return unix.AUDIT_ARCH_RISCV64
	}
	return 0
}

// denyIOUringSetup installs, on every thread of the process, a seccomp
// filter that fails io_uring_setup with errno and allows everything else.
func denyIOUringSetup(errno syscall.Errno) error {
	arch := auditArch()
	if arch == 0 {
		return fmt.Errorf("no AUDIT_ARCH for %s", runtime.GOARCH)
	}
	const (
		offNr   = 0 // offsetof(struct seccomp_data, nr)
		offArch = 4 // offsetof(struct seccomp_data, arch)
	)
	prog := []unix.SockFilter{
		// A call from another ABI (e.g. x32 or 32-bit compat) has other
		// numbers: allow it rather than misread it.
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: offArch},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: arch, Jt: 1, Jf: 0},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: offNr},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.SYS_IO_URING_SETUP, Jt: 0, Jf: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(errno)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	// no_new_privs and the filter are set on this thread; TSYNC copies the
	// filter (and no_new_privs) to every other thread of the process, so
	// the completion goroutine's thread is covered too.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_NO_NEW_PRIVS: %w", err)
	}
	_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if e != 0 {
		return fmt.Errorf("seccomp(SET_MODE_FILTER, TSYNC): %w", e)
	}
	return nil
}

// TestSeccompHelper is the child's body; it does nothing in a normal run.
func TestSeccompHelper(t *testing.T) {
	mode := os.Getenv(seccompHelperEnv)
	if mode == "" {
		t.Skip("helper for TestUnavailableUnderSeccomp")
	}
	errno := syscall.EPERM
	if mode == "ENOSYS" {
		errno = syscall.ENOSYS
	}
	if err := denyIOUringSetup(errno); err != nil {
		fmt.Printf("SETUP-FAILED %v\n", err)
		return
	}
	// A direct call proves the filter is in force on this thread.
	_, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 8, 0, 0)
	fmt.Printf("RAW %d\n", int(e))

	// The parent's AIORING_BACKEND (a CI pass may set it) must not decide.
	os.Unsetenv(BackendEnv)
	e1, err := NewEngine(Config{Backend: BackendIOURing})
	fmt.Printf("NEWENGINE nil-engine=%v unsupported=%v std-unsupported=%v errno=%v\n",
		e1 == nil, errors.Is(err, ErrUnsupported), errors.Is(err, errors.ErrUnsupported), errors.Is(err, errno))
	fmt.Printf("MESSAGE %v\n", err)
	os.Setenv(BackendEnv, string(BackendIOURing))
	_, err = NewEngine(Config{})
	fmt.Printf("ENV-IOURING unsupported=%v\n", errors.Is(err, ErrUnsupported))
	os.Unsetenv(BackendEnv)

	// Auto falls back to the portable backend, which works.
	e2, err := NewEngine(Config{})
	if err != nil {
		fmt.Printf("AUTO error %v\n", err)
		return
	}
	fb := e2.Fallback()
	fmt.Printf("AUTO backend=%s unsupported=%v errno=%v\n", e2.Backend(), errors.Is(fb, ErrUnsupported), errors.Is(fb, errno))
	fmt.Printf("FALLBACK %v\n", fb)
	a := e2.NewAio(nil)
	a.Nop()
	a.Wait()
	fmt.Printf("NOP result=%v\n", a.Result())
	a.Free()
	e2.Close()
	d, err := Default()
	fmt.Printf("DEFAULT err=%v backend=%s\n", err, d.Backend())
	a, err = New(nil)
	fmt.Printf("NEW nil-aio=%v err=%v\n", a == nil, err)
	a.Sleep(time.Millisecond)
	a.Wait()
	fmt.Printf("SLEEP result=%v\n", a.Result())
	fmt.Println("DONE")
}

// With io_uring_setup denied by seccomp, with EPERM and with ENOSYS:
// BackendIOURing (asked in Config or through AIORING_BACKEND) reports
// ErrUnsupported, names seccomp as the cause and says how to allow
// io_uring; BackendAuto (Config{}, Default) falls back to the portable
// backend, which runs operations, and Fallback gives the same reason; and
// nothing panics.
func TestUnavailableUnderSeccomp(t *testing.T) {
	if auditArch() == 0 {
		t.Skipf("no seccomp arch constant for %s", runtime.GOARCH)
	}
	if os.Getenv(seccompHelperEnv) != "" {
		t.Skip("in the helper")
	}
	for _, mode := range []string{"EPERM", "ENOSYS"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestSeccompHelper$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), seccompHelperEnv+"="+mode)
			outb, err := cmd.CombinedOutput()
			out := string(outb)
			if err != nil {
				t.Fatalf("child failed (%v):\n%s", err, out)
			}
			if strings.Contains(out, "panic") {
				t.Fatalf("child panicked:\n%s", out)
			}
			if strings.Contains(out, "SETUP-FAILED") {
				t.Skipf("cannot install a seccomp filter here:\n%s", out)
			}
			want := int(map[string]syscall.Errno{"EPERM": syscall.EPERM, "ENOSYS": syscall.ENOSYS}[mode])
			for _, line := range []string{
				fmt.Sprintf("RAW %d", want),
				"NEWENGINE nil-engine=true unsupported=true std-unsupported=true errno=true",
				"ENV-IOURING unsupported=true",
				"AUTO backend=portable unsupported=true errno=true",
				"NOP result=<nil>",
				"DEFAULT err=<nil> backend=portable",
				"NEW nil-aio=false err=<nil>",
				"SLEEP result=<nil>",
				"DONE",
			} {
				if !strings.Contains(out, line+"\n") {
					t.Errorf("child output lacks %q:\n%s", line, out)
				}
			}
			_, msg, _ := strings.Cut(out, "MESSAGE ")
			msg, _, _ = strings.Cut(msg, "\n")
			_, fb, _ := strings.Cut(out, "FALLBACK ")
			fb, _, _ = strings.Cut(fb, "\n")
			for what, m := range map[string]string{"NewEngine(BackendIOURing)": msg, "Fallback()": fb} {
				if !strings.Contains(m, "seccomp") || !strings.Contains(m, "allows io_uring_setup") {
					t.Errorf("%s does not name the cause (seccomp) and the fix: %q", what, m)
				}
			}
			if msg != fb {
				t.Errorf("Fallback() %q differs from NewEngine's error %q", fb, msg)
			}
			t.Logf("%s: %s", mode, msg)
		})
	}
}
