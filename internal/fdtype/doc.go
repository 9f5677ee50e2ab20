// Package fdtype says what kind of file a descriptor names (a regular
// file, a pipe, a socket...) without asking the kernel for anything else.
//
// The engine looks at a descriptor's kind before calls that might wait
// on anything but a file: a write at the file position made on its
// starter, a splice's ends. fstat(2) would answer too, but it asks for
// the file's times, and on a file system with multigrain timestamps
// (ext4, xfs, btrfs and tmpfs since Linux 6.13) a query of the change
// time makes the next write stamp the inode with a fine-grained time and
// dirty it: measured here, a 4 KiB write at the file position after an
// fstat marked the inode dirty on every write (100 089 ext4_mark_inode_dirty
// events for 100 000 writes), after a statx(2) of the type alone as often
// as without any look (164 for 100 000), see docs/design.md, decision 91.
// Asking for the type alone also spares a network file system's client a
// round trip to revalidate the attributes.
//
// It is internal, and Linux's: only the backends import it.
package fdtype
