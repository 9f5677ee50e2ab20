// Package scripts holds no code: it exists only so that `go test ./...`
// runs the tests of the shell scripts in this directory, such as the io_uring
// check in provision.sh.
package scripts
