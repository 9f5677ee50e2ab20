package seat

import (
	"runtime"
	"strconv"
)

// GoroutineID returns the calling goroutine's id, parsed from its stack
// header ("goroutine 123 [running]:"). It costs about a microsecond, so it
// is used only where that is already paid for: once per reaper at start,
// and on the checks behind the rules that forbid waiting from a callback.
func GoroutineID() int64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	s := string(buf[:n])
	const prefix = "goroutine "
	if len(s) <= len(prefix) {
		return -1
	}
	s = s[len(prefix):]
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	id, err := strconv.ParseInt(s[:end], 10, 64)
	if err != nil {
		return -1
	}
	return id
}
