//go:build amd64 || arm64

package gtoken

// Available reports whether Current names goroutines on this architecture.
const Available = true

// Current returns the calling goroutine's token (gtoken_$GOARCH.s).
//
//go:noescape
func Current() uintptr
