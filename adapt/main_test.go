package adapt

import (
	"os"
	"testing"

	"github.com/aioring/aioring/aio"
	"go.uber.org/goleak"
)

// testEngine is shared by the package's tests; TestMain closes it, and
// goleak then checks that neither the engine nor the adapters left a
// goroutine behind.
var testEngine *aio.Engine

// ringEngine is a RingOnly engine: Conns made on it take the engine path
// (Recv and Send operations) instead of the netpoller, so that the tests
// of Conn run on both (forEachPath).
var ringEngine *aio.Engine

func TestMain(m *testing.M) {
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		os.Stderr.WriteString("adapt tests: " + err.Error() + "\n")
		os.Exit(1)
	}
	testEngine = e
	if ringEngine, err = aio.NewEngine(aio.Config{RingOnly: true}); err != nil {
		os.Stderr.WriteString("adapt tests: " + err.Error() + "\n")
		os.Exit(1)
	}
	code := m.Run()
	for _, e := range []*aio.Engine{testEngine, ringEngine} {
		if err := e.Close(); err != nil {
			os.Stderr.WriteString("adapt tests: closing an engine: " + err.Error() + "\n")
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("adapt tests: leaked goroutines: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
