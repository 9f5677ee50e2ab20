//go:build linux

package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

type line struct {
	err   string
	count int
	ms    int
}

// parse splits "LABEL err=ERR count=N after=Mms" lines by label.
func parse(t *testing.T, out string) (map[string]line, []string) {
	t.Helper()
	got := map[string]line{}
	var rest []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		label, tail, ok := strings.Cut(l, " err=")
		if !ok {
			rest = append(rest, l)
			continue
		}
		errPart, tail, ok1 := strings.Cut(tail, " count=")
		countPart, after, ok2 := strings.Cut(tail, " after=")
		count, err1 := strconv.Atoi(countPart)
		ms, err2 := strconv.Atoi(strings.TrimSuffix(after, "ms"))
		if !ok1 || !ok2 || err1 != nil || err2 != nil {
			t.Fatalf("malformed line %q", l)
		}
		got[strings.TrimSpace(label)] = line{strings.TrimSpace(errPart), count, ms}
	}
	return got, rest
}

func TestTimeoutsOutput(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(&out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	got, rest := parse(t, out.String())
	const (
		timedOut = "aio: operation timed out"
		canceled = "aio: operation canceled"
		waited   = 1 // after one step (50ms): never early, and not stuck
		atOnce   = 2 // no timer involved: quick even on a loaded host
		any      = 0
	)
	want := []struct {
		label string
		err   string
		count int
		when  int
	}{
		{"Sleep(50ms)", "<nil>", 0, waited},
		{"Sleep(10s), SetTimeout(50ms)", timedOut, 0, waited},
		{"Recv, SetTimeout(50ms)", timedOut, 0, waited},
		{"Recv, SetExpire(now+50ms)", timedOut, 0, waited},
		{"Recv, SetExpire(now+50ms) wins over 10s", timedOut, 0, waited},
		{"Recv, SetExpire(now-1s): already past", timedOut, 0, atOnce},
		{"Recv, SetTimeout(0): nothing to read", timedOut, 0, atOnce},
		{"Recv, SetTimeout(0): 5 bytes waiting", "<nil>", 5, atOnce},
		{"Recv, data after 50ms, SetTimeout(10s)", "<nil>", 5, waited},
		{"Recv, Cancel after 50ms", canceled, 0, waited},
		{"Recv, Abort(errShutdown) after 50ms", "application shutting down", 0, waited},
		{"Recv, 5 bytes waiting, then Cancel", "<nil>", 5, any},
		{"Nop, then Cancel on the idle aio", "<nil>", 0, any},
	}
	if len(got) != len(want) {
		t.Errorf("%d result lines, want %d:\n%s", len(got), len(want), out.String())
	}
	for _, w := range want {
		g, ok := got[w.label]
		if !ok {
			t.Errorf("no line for %q", w.label)
			continue
		}
		if g.err != w.err || g.count != w.count {
			t.Errorf("%s: err=%s count=%d; want err=%s count=%d", w.label, g.err, g.count, w.err, w.count)
		}
		switch w.when {
		case waited:
			// Timers never fire early; the rounding to milliseconds
			// may show 49.
			if g.ms < 49 || g.ms > 5000 {
				t.Errorf("%s: after %dms, want about 50ms (49..5000)", w.label, g.ms)
			}
		case atOnce:
			if g.ms > 2000 {
				t.Errorf("%s: after %dms, want at once", w.label, g.ms)
			}
		}
	}
	wantRest := []string{
		"errors.Is(ErrTimedOut, os.ErrDeadlineExceeded) = true",
		"errors.Is(ErrTimedOut, context.DeadlineExceeded) = true",
		"errors.Is(ErrCanceled, context.Canceled) = true",
	}
	if strings.Join(rest, "\n") != strings.Join(wantRest, "\n") {
		t.Errorf("closing lines:\n%s\nwant:\n%s", strings.Join(rest, "\n"), strings.Join(wantRest, "\n"))
	}
}
