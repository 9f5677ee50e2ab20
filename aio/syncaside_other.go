//go:build !linux

package aio

// Off Linux there is no ring to sync beside (syncaside_linux.go): every
// start declines, and no worker ever runs.
func (a *Aio) syncBeside(opKind, int) bool { return false }

func (a *Aio) syncThenEnd(syncJob) {}
