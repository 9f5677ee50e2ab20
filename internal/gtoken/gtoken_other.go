//go:build !amd64 && !arm64

package gtoken

// Available reports whether Current names goroutines on this architecture.
const Available = false

// Current returns 0 here: callers check Available and fall back.
func Current() uintptr { return 0 }
