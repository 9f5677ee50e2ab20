//go:build darwin || freebsd || netbsd

package adapt

import (
	"syscall"
	"time"
)

// modTime is st's modification time; these systems name it Mtimespec.
func modTime(st *syscall.Stat_t) time.Time { return time.Unix(st.Mtimespec.Unix()) }
