//go:build linux

package adapt

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// Concurrent Reads (big, of data not in the page
// cache, so that the engine's tries miss) or big Writes at the file
// position, on os and on adapt, each must see its own part of the file.
func TestAuditConcurrentBigIOSharesThePosition(t *testing.T) {
	const blocks, size = 64, 256 << 10
	content := make([]byte, blocks*size)
	for i := 0; i < blocks; i++ {
		copy(content[i*size:], fmt.Sprintf("%08d", i))
	}
	for _, kind := range []string{"os", "adapt"} {
		t.Run("read-"+kind, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(name, content, 0o600); err != nil {
				t.Fatal(err)
			}
			for round := 0; round < 5; round++ {
				var f io.ReadCloser
				of, err := os.Open(name)
				if err != nil {
					t.Fatal(err)
				}
				of.Sync()
				unix.Fadvise(int(of.Fd()), 0, 0, unix.FADV_DONTNEED)
				if kind == "os" {
					f = of
				} else {
					of.Close()
					f, err = OpenFile(testEngine, name, os.O_RDONLY, 0)
					if err != nil {
						t.Fatal(err)
					}
				}
				total, seen := readBlocksConcurrently(t, f, 4, size)
				f.Close()
				if total != len(content) || len(seen) != blocks {
					t.Fatalf("round %d: read %d bytes, %d distinct blocks; want %d, %d", round, total, len(seen), len(content), blocks)
				}
			}
		})
		t.Run("write-"+kind, func(t *testing.T) {
			for round := 0; round < 5; round++ {
				name := filepath.Join(t.TempDir(), "f")
				var f io.WriteCloser
				var err error
				if kind == "os" {
					f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
				} else {
					f, err = OpenFile(testEngine, name, os.O_RDWR|os.O_CREATE, 0o600)
				}
				if err != nil {
					t.Fatal(err)
				}
				const writers, each = 8, 8
				var wg sync.WaitGroup
				for w := 0; w < writers; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						rec := bytes.Repeat([]byte{byte('a' + w)}, size)
						for i := 0; i < each; i++ {
							if n, err := f.Write(rec); n != size || err != nil {
								t.Errorf("Write: %d, %v", n, err)
								return
							}
						}
					}()
				}
				wg.Wait()
				f.Close()
				st, err := os.Stat(name)
				if err != nil {
					t.Fatal(err)
				}
				if st.Size() != writers*each*size {
					t.Fatalf("round %d: %d bytes in the file, want %d: concurrent Writes overwrote each other", round, st.Size(), writers*each*size)
				}
				os.Remove(name)
			}
		})
	}
}
