// Command bench shows, in about a minute, what the aioring engine buys over
// the standard library and over other io_uring users on this machine.
//
// Run it from the repository root:
//
//	go run ./bench                      # the quick suite (at most 90 s on 2 cores)
//	go run ./bench -full                # longer windows, a 1 GiB file
//	go run ./bench -only read-direct    # one scenario
//	go run ./bench -json out.json -chart out.svg
//
// Every scenario measures aioring and its baselines side by side in the same
// run on the same data, and prints ratios (aioring / baseline) next to the
// absolute figures, with the project's target for each ratio and whether it
// was met.
//
// Each measured case runs in a fresh child process (this same binary, told
// so by an environment variable): the Go runtime never gives back an OS
// thread it made, so in one process the threads of the standard library's
// blocking reads would be charged to every later case, and CPU time and heap
// state would leak from case to case too. External tools (fio, cp) are
// measured as their own processes.
package main
