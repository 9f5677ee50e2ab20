package aio

import "github.com/aioring/aioring/internal/fdhold"

// An Aio whose owner holds its descriptors open (internal/fdhold: an
// adapt.File's Aios) says so to its backends in every operation's
// description (op.Desc.Held), which buildLocked carries from one
// operation to the next.
func init() {
	fdhold.Mark = func(x any) { x.(*Aio).markHeld() }
}

// markHeld records fdhold's promise for a. No operation of a is in
// flight: its owner calls it before the first.
func (a *Aio) markHeld() {
	a.mu.Lock()
	a.desc.Held = true
	a.mu.Unlock()
}
