// Package splice is splice(2) as both of the engine's backends make it
// on their own goroutines: one call with SPLICE_F_NONBLOCK, and what each
// end of a Splice is, which decides whether such a call can wait.
// SPLICE_F_NONBLOCK keeps a pipe end from waiting, but a socket end waits
// whenever the socket itself is in blocking mode (tcp_splice_read and
// splice_to_socket look only at the socket's O_NONBLOCK), and a regular
// file's end may read the disk.
//
// It is internal, and Linux's: only the backends import it.
package splice
