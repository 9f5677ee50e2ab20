//go:build linux

package main

import (
	"bytes"
	"strings"
	"testing"
)

// timeouts takes no arguments: one given (a flag such as -h, or a typo)
// must be a usage error, not ignored while the demonstration runs.
func TestAuditTimeoutsRejectsArguments(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"extra"}} {
		var stderr bytes.Buffer
		if code := checkArgs(args, &stderr); code != 2 || !strings.Contains(stderr.String(), "usage") {
			t.Errorf("timeouts %q: status %d, stderr %q; want 2 and the usage", args, code, stderr.String())
		}
	}
	var stderr bytes.Buffer
	if code := checkArgs(nil, &stderr); code != 0 || stderr.Len() != 0 {
		t.Errorf("timeouts with no argument: status %d, stderr %q; want 0 and nothing", code, stderr.String())
	}
}
