//go:build linux

package ring

import (
	"sync"

	"golang.org/x/sys/unix"
)

var kernelVersion = sync.OnceValues(func() (int, int) {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return 0, 0
	}
	var v [2]int
	i := 0
	for _, c := range u.Release {
		switch {
		case c >= '0' && c <= '9':
			v[i] = v[i]*10 + int(c-'0')
		case c == '.' && i == 0:
			i = 1
		default:
			return v[0], v[1]
		}
	}
	return v[0], v[1]
})

// KernelAtLeast reports whether the running kernel's release is major.minor
// or later. It is for features the kernel has no probe bit for (multishot
// receive, 6.0): the opcode exists earlier, only the flag is new.
func KernelAtLeast(major, minor int) bool {
	ma, mi := kernelVersion()
	return ma > major || ma == major && mi >= minor
}
