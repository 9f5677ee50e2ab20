//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package portable

// haveSplice: these systems have no splice(2); a Splice ends with
// ErrUnsupported (Supports says no).
const haveSplice = false
