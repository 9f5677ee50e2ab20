//go:build linux

package aio_test

// Config.FileWorkers caps the kernel's bounded io-wq workers per
// submitting thread. File work beyond the cap waits for a worker: an open
// that blocks (a FIFO's write end with no reader) holds one until its
// timeout cancels it, and a Statx queued behind it on the same thread
// runs only then; under the kernel's own cap the Statx gets a worker of
// its own at once.
//
// The kernel keeps the cap in each thread's io-wq, for every ring that
// thread uses and after the engine that set it has closed, so the test
// runs in a process of its own: a thread capped at 1 must not serve the
// other tests.

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

const fileWorkersChild = "AIORING_TEST_FILEWORKERS_CHILD"

func TestFileWorkersCapBlockedOpen(t *testing.T) {
	mode := os.Getenv(fileWorkersChild)
	if mode == "" {
		// Each case in a process of its own: a thread's io-wq keeps its
		// cap, and its idle workers, from one case to the next.
		for _, m := range []string{"cap1", "kernel"} {
			t.Run(m, func(t *testing.T) {
				cmd := exec.Command(os.Args[0], "-test.run=^TestFileWorkersCapBlockedOpen$", "-test.v", "-test.count=1")
				cmd.Env = append(os.Environ(), fileWorkersChild+"="+m)
				out, err := cmd.CombinedOutput()
				t.Logf("its process:\n%s", out)
				if err != nil {
					t.Fatalf("its process: %v", err)
				}
			})
		}
		return
	}
	workers, queued := -1, mode == "cap1"
	if queued {
		workers = 1
	}
	e := newEngine(t, aio.Config{FileWorkers: workers, RingOnly: true})
	if e.Backend() != aio.BackendIOURing {
		t.Skip("FileWorkers is io_uring's")
	}
	_, link := fifo(t)
	reg := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(reg, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// One thread submits both (a start enters the kernel on the caller's
	// thread), so both go to its io-wq.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	open, stat := e.NewAio(nil), e.NewAio(nil)
	defer open.Free()
	defer stat.Free()
	const openTimeout = time.Second
	t0 := time.Now()
	open.SetTimeout(openTimeout)
	open.OpenAt(unix.AT_FDCWD, link, unix.O_WRONLY, 0) // blocks its worker
	var st unix.Statx_t
	stat.SetTimeout(waitLimit)
	stat.Statx(unix.AT_FDCWD, reg, 0, unix.STATX_SIZE, &st)
	stat.Wait()
	statTook := time.Since(t0)
	open.Wait()
	if stat.Result() != nil || st.Size != 1 {
		t.Fatalf("Statx beside a blocked open: %v, size %d", stat.Result(), st.Size)
	}
	if !errors.Is(open.Result(), aio.ErrTimedOut) {
		if fd := open.FD(); fd >= 0 {
			unix.Close(fd)
		}
		t.Fatalf("the blocked open: %v, want ErrTimedOut", open.Result())
	}
	// Half the open's timeout tells the two apart with room to spare: the
	// Statx takes microseconds when it has a worker.
	t.Logf("%s: Statx ended after %v", mode, statTook)
	if queued && statTook < openTimeout/2 {
		t.Fatalf("with one worker per thread, the Statx ended after %v, while the open still held the worker", statTook)
	}
	if !queued && statTook >= openTimeout/2 {
		t.Fatalf("under the kernel's cap, the Statx took %v: it waited for the blocked open", statTook)
	}
}
