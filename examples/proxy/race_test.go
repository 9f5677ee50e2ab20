//go:build linux && race

package main

// buildFlags makes the binary the tests run carry the race detector too
// when the tests do.
var buildFlags = []string{"-race"}
