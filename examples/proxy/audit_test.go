//go:build linux

package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A -buf too large to allocate: a usage error at the start, not a runtime
// crash at the first connection (seen: "fatal error: runtime: out of
// memory" once a client connected to proxy -buf 99999999999999).
func TestAuditProxyHugeBuf(t *testing.T) {
	cmd := exec.Command(binary(t), "-listen", "127.0.0.1:0", "-upstream", "127.0.0.1:1", "-buf", "99999999999999")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(errb.String(), "-buf") {
			t.Errorf("proxy -buf 99999999999999: %v, stderr %q; want exit 2 naming -buf", err, errb.String())
		}
	case <-time.After(3 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Errorf("proxy -buf 99999999999999 started serving: %q", out.String())
	}
}
