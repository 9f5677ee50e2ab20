//go:build race

package exampletest

// raceFlags make the program carry the race detector when its tests do.
var raceFlags = []string{"-race"}
