//go:build openbsd || dragonfly

package adapt

import (
	"syscall"
	"time"
)

// modTime is st's modification time; these systems name it Mtim.
func modTime(st *syscall.Stat_t) time.Time { return time.Unix(st.Mtim.Unix()) }
