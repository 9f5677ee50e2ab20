//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package portable

import "github.com/aioring/aioring/internal/op"

// readTry: nothing to keep where there is no RWF_NOWAIT.
type readTry struct{}

// Try implements backend: without RWF_NOWAIT nothing is tried before
// Submit, which sends a regular file's read to a file worker.
func (p *Backend) Try(*op.Desc) (op.Result, bool) { return op.Result{}, false }

// TryUnderLock implements backend: nothing is tried.
func (p *Backend) TryUnderLock(*op.Desc) bool { return false }

// TriesFiles reports false: nothing is tried.
func (p *Backend) TriesFiles() bool { return false }
