package aio

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine started by them is
// still running when they end. The process-wide Default engine is closed
// first: it lives for the whole process by design, and its goroutines are
// not a leak.
func TestMain(m *testing.M) { goleak.VerifyTestMain(closingDefault{m}) }

type closingDefault struct{ m *testing.M }

func (c closingDefault) Run() int {
	code := c.m.Run()
	defaultMu.Lock()
	e := defaultEngine
	defaultEngine = nil
	defaultMu.Unlock()
	if e != nil {
		e.Close()
	}
	return code
}

// testEngine is an engine on the backend the tests run on (AIORING_BACKEND),
// closed when the test ends; the test is skipped when none can be made.
// onEachBackend runs f once per backend, a subtest each.
func onEachBackend(t *testing.T, f func(t *testing.T, be Backend)) {
	for _, be := range []Backend{BackendIOURing, BackendPortable} {
		t.Run(string(be), func(t *testing.T) { f(t, be) })
	}
}

// backendEngine is an engine of backend be, closed at the test's end; the
// test is skipped where that backend is unavailable.
func backendEngine(t *testing.T, be Backend) *Engine {
	t.Helper()
	e, err := NewEngine(Config{Backend: be})
	if err != nil {
		t.Skipf("%s unavailable: %v", be, err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func testEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := NewEngine(Config{})
	if err != nil {
		t.Skipf("no engine: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}
