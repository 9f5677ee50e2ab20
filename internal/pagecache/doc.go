// Package pagecache is a test helper: it makes the first page of a file
// leave the page cache, so that the next read of it must wait for the
// disk. The tests of the reads tried first (aio, internal/portable) use
// it. Linux only (elsewhere the package is empty).
package pagecache
