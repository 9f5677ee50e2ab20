// Command bench compares aioring with the standard library, fio and the raw
// ring on this machine. Run it from the repository root: go run ./bench
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "bench: not written yet")
	os.Exit(2)
}
