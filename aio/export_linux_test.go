//go:build linux

package aio

import "testing"

// LoopbackTCP returns a connected loopback TCP pair (sender, receiver),
// sndbuf and rcvbuf applied when positive; the caller closes both.
func LoopbackTCP(t testing.TB, sndbuf, rcvbuf int) (snd, rcv int) {
	return loopbackTCP(t, sndbuf, rcvbuf)
}
