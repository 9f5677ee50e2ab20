package adapt

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Close waits for an operation in flight (a Read of an empty pipe) before
// it closes the descriptor, and every operation after it fails with
// os.ErrClosed.
func TestFileCloseWaitsForOperationsInFlight(t *testing.T) {
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	unix.CloseOnExec(p[0])
	unix.CloseOnExec(p[1])
	defer unix.Close(p[1])
	f := NewFile(testEngine, p[0], "pipe")
	type got struct {
		s   string
		err error
	}
	read := make(chan got, 1)
	go func() {
		b := make([]byte, 8)
		n, err := f.Read(b)
		read <- got{string(b[:n]), err}
	}()
	for deadline := time.Now().Add(10 * time.Second); f.life.Load() != 1; {
		if time.Now().After(deadline) {
			t.Fatal("the Read never began")
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- f.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with a Read in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := unix.Write(p[1], []byte("hi")); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-read:
		if g.s != "hi" || g.err != nil {
			t.Fatalf("the Read in flight at Close: %q, %v; want \"hi\", nil", g.s, g.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the Read never ended")
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close never returned after the Read ended")
	}
	if _, err := f.Read(make([]byte, 1)); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Read after Close: %v, want os.ErrClosed", err)
	}
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("a second Close: %v, want os.ErrClosed", err)
	}
}

// Reads racing with Close each end whole or with os.ErrClosed, and Close
// returns once they have let go of the file, whatever their timing.
func TestFileCloseRacesReads(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	want := randBytes(1<<16, 7)
	if err := os.WriteFile(name, want, 0o600); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 50; round++ {
		f, err := OpenFile(testEngine, name, os.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := make([]byte, 4096)
				for i := 0; ; i++ {
					off := int64(i%16) * 4096
					n, err := f.ReadAt(b, off)
					if errors.Is(err, os.ErrClosed) {
						return
					}
					if err != nil || n != len(b) || string(b) != string(want[off:off+4096]) {
						errs <- errors.New("a read beside Close came back short, wrong or failed: " + errString(err))
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(round%5) * 100 * time.Microsecond)
		closed := make(chan error, 1)
		go func() { closed <- f.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Fatalf("round %d: Close: %v", round, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: Close never returned", round)
		}
		wg.Wait()
		select {
		case err := <-errs:
			t.Fatalf("round %d: %v", round, err)
		default:
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
