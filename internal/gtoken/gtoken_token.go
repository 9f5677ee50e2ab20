package gtoken

// Available reports whether Current names goroutines on this architecture.
const Available = true

// Current returns the calling goroutine's token (gtoken_amd64.s).
//
//go:noescape
func Current() uintptr
