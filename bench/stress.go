package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// stressEnv, when set to the bench's process ID, makes this binary a CPU
// burner for -stress: it spins until killed, or until that process is gone.
const stressEnv = "AIORING_BENCH_STRESS"

// stressSink keeps the burner's arithmetic from being optimised away.
var stressSink uint64

// stressMain burns one CPU at nice 0. It also ends by itself once its
// parent is gone, a second guard (after the parent-death signal) against a
// burner outliving the bench.
func stressMain() int {
	parent, _ := strconv.Atoi(os.Getenv(stressEnv))
	// A bench started under nice must still stress at nice 0, as a busy
	// machine's other work would; without the privilege to lower the
	// niceness, the burner stays where it was.
	unix.Setpriority(unix.PRIO_PROCESS, 0, 0)
	x := uint64(1)
	for {
		for range 1 << 20 {
			x = x*6364136223846793005 + 1442695040888963407
		}
		stressSink = x
		if os.Getppid() != parent {
			return 0
		}
	}
}

// stressor is one running CPU burner.
type stressor struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has ended
	err  error         // how it ended, once done is closed
}

// startStress starts n CPU burners, one per core, for the whole suite.
func (c *children) startStress(n int) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this program to start the -stress processes: %w", err)
	}
	for range n {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), stressEnv+"="+strconv.Itoa(os.Getpid()), "GOMAXPROCS=1",
			"GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		st := &stressor{cmd: cmd, done: make(chan struct{})}
		c.mu.Lock()
		err := cmd.Start()
		if err == nil {
			c.stress = append(c.stress, st)
		}
		c.mu.Unlock()
		if err != nil {
			c.stopStress()
			return fmt.Errorf("starting a -stress process: %w", err)
		}
		go func() {
			st.err = cmd.Wait()
			close(st.done)
		}()
	}
	return nil
}

// stopStress kills the burners and waits for them. It fails if one had
// already ended: the cases after that ran on a machine less busy than the
// table says.
func (c *children) stopStress() error {
	c.mu.Lock()
	all := c.stress
	c.stress = nil
	c.mu.Unlock()
	var early error
	for _, st := range all {
		select {
		case <-st.done:
			if early == nil {
				early = fmt.Errorf("a -stress process ended before the suite did (%v): the figures are not under stress", st.err)
			}
		default:
		}
		st.cmd.Process.Kill()
		select {
		case <-st.done:
		case <-time.After(10 * time.Second):
			if early == nil {
				early = errors.New("a -stress process did not end within 10 s of SIGKILL")
			}
		}
	}
	return early
}

// stressCount is how many burners -stress runs: one per core.
func stressCount() int { return runtime.NumCPU() }
