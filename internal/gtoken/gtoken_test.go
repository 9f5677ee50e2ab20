package gtoken

import (
	"runtime"
	"sync"
	"testing"
)

// A goroutine's token does not change across calls, preemption and stack
// growth, and goroutines alive at once have different tokens.
func TestTokensNameGoroutines(t *testing.T) {
	if !Available {
		t.Skip("no goroutine token on " + runtime.GOARCH + ": callers use the thread id")
	}
	const n = 64
	var (
		wg, ready sync.WaitGroup
		release   = make(chan struct{})
		tokens    = make([]uintptr, n)
	)
	for i := range n {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			tok := Current()
			for j := range 1000 {
				if j%100 == 0 {
					runtime.Gosched()
					growStack(64) // the stack moves; the token must not
				}
				if Current() != tok {
					t.Errorf("goroutine %d: token changed from %#x to %#x", i, tok, Current())
					ready.Done()
					return
				}
			}
			tokens[i] = tok
			ready.Done()
			<-release // stay alive until every token is compared
		}()
	}
	ready.Wait()
	if t.Failed() {
		close(release)
		wg.Wait()
		return
	}
	seen := map[uintptr]int{Current(): -1}
	for i, tok := range tokens {
		if tok == 0 {
			t.Fatalf("goroutine %d has token 0", i)
		}
		if j, ok := seen[tok]; ok {
			t.Errorf("goroutines %d and %d, both alive, share token %#x", i, j, tok)
		}
		seen[tok] = i
	}
	close(release)
	wg.Wait()
}

//go:noinline
func growStack(depth int) byte {
	var pad [256]byte
	pad[depth%len(pad)] = byte(depth)
	if depth == 0 {
		return pad[0]
	}
	return growStack(depth-1) + pad[depth%len(pad)]
}

func BenchmarkCurrent(b *testing.B) {
	for b.Loop() {
		Current()
	}
}
