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

func TestMain(m *testing.M) {
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		os.Stderr.WriteString("adapt tests: " + err.Error() + "\n")
		os.Exit(1)
	}
	testEngine = e
	code := m.Run()
	if err := e.Close(); err != nil {
		os.Stderr.WriteString("adapt tests: closing the engine: " + err.Error() + "\n")
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("adapt tests: leaked goroutines: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
