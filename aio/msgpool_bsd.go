//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package aio

// mapNoReserve: these systems have no MAP_NORESERVE (anonymous mappings
// are not committed until written anyway).
const mapNoReserve = 0
