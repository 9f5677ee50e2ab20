//go:build linux

package aio

import "golang.org/x/sys/unix"

// mapNoReserve keeps the pool's mapping out of the overcommit accounting:
// only the pages the kernel writes become resident.
const mapNoReserve = unix.MAP_NORESERVE
