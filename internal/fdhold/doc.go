// Package fdhold carries one promise from package adapt to package aio
// that aio's public API has no word for: every descriptor an Aio's
// operations name is held open by the Aio's owner, during them and
// between them, so its number cannot be closed and reused behind the
// engine's back.
//
// An adapt.File owns its descriptor (OpenFile opened it, NewFile took
// it over) and closes it only in Close, after its operations have ended
// and its Aios are freed; each of its Aios names that descriptor alone.
// With the promise the engine keeps what it learnt of the descriptor's
// kind between operations instead of asking the kernel again: a write at
// the file position that the engine makes on its starter otherwise looks
// at the descriptor's kind before every write (a statx(2), about 300 ns),
// because a number closed and reused for a pipe would make that write
// block (internal/filetry, docs/design.md decision 94).
//
// The promise is not offered to users of package aio: an Aio that
// breaks it (its descriptor closed and the number reused for a pipe or
// a terminal between two writes at the file position) could block its
// starter, which may be one of the engine's reapers. A File's Aios are
// started only by the goroutines that call the File's methods, never by
// a callback, so even a File whose number a program closed and reused
// behind its back (through Fd) would block only that caller's write,
// as os.File's write to the pipe would.
package fdhold
