//go:build !linux

package aio

import "github.com/aioring/aioring/completion"

// newPool is never reached off Linux: NewEngine fails there.
func newPool(*msgEngine, *completion.Shard, int, int, bool) (msgPool, error) {
	return nil, ErrUnsupported
}
