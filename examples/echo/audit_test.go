//go:build linux

package main

import (
	"bytes"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runBinary runs the echo binary with args under a 2 GiB address space
// limit (so running out of memory is a quick runtime failure, not the
// machine's OOM killer) and reports its exit status and standard error,
// or -1 if it was still running (serving) after a few seconds. With
// connect, it connects once to its address meanwhile and sends a line.
func runBinary(t *testing.T, connect bool, args ...string) (int, string) {
	t.Helper()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	cmd := exec.Command(prlimit, append([]string{"--as=2147483648", binary(t), "-addr", "127.0.0.1:0"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		var line [128]byte
		n, _ := stdout.Read(line[:])
		if addr, ok := strings.CutPrefix(strings.TrimSpace(string(line[:n])), "listening on "); ok && connect {
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Write([]byte("hello\n"))
				c.SetReadDeadline(time.Now().Add(time.Second))
				c.Read(line[:])
				c.Close()
			}
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), stderr.String()
		}
		return 0, stderr.String()
	case <-time.After(4 * time.Second):
		cmd.Process.Kill()
		<-done
		return -1, stderr.String()
	}
}

// Arguments that are not flags: a usage error, as proxy's, not ignored
// (echo 127.0.0.1:9000 listened on 7007).
func TestAuditEchoExtraArgument(t *testing.T) {
	for _, args := range [][]string{{"127.0.0.1:9000"}, {"-udp", "extra"}} {
		code, stderr := runBinary(t, false, args...)
		if code != 2 || !strings.Contains(stderr, "unexpected argument") {
			t.Errorf("echo %q: exit %d, stderr %.200q; want 2 and unexpected argument", args, code, stderr)
		}
	}
}

// A -buf or -inflight too large to allocate: a usage error at the start,
// not a runtime crash at the first connection (or the OOM killer).
func TestAuditEchoHugeFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"-buf", "99999999999999"}, "-buf"},
		{[]string{"-udp", "-inflight", "1000000000"}, "-inflight"},
	} {
		code, stderr := runBinary(t, true, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.flag) || strings.Contains(stderr, "fatal error") {
			t.Errorf("echo %q: exit %d, stderr %.200q; want 2 naming %s", tc.args, code, stderr, tc.flag)
		}
	}
}
