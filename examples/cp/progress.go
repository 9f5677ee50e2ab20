//go:build linux

package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progress draws a one-line bar on a terminal: bytes copied of the total,
// and the rate. Callbacks call add; a ticker goroutine redraws.
type progress struct {
	w     io.Writer
	total int64
	done  atomic.Int64
	start time.Time
	quit  chan struct{}
	wg    sync.WaitGroup
}

func newProgress(w io.Writer, total int64, show bool) *progress {
	p := &progress{w: w, total: total, start: time.Now()}
	if show {
		p.quit = make(chan struct{})
		p.wg.Go(func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					p.draw()
				case <-p.quit:
					p.draw()
					fmt.Fprintln(p.w)
					return
				}
			}
		})
	}
	return p
}

func (p *progress) add(n int64) { p.done.Add(n) }

func (p *progress) stop() {
	if p.quit != nil {
		close(p.quit)
		p.wg.Wait()
	}
}

func (p *progress) draw() {
	const width = 30
	done := p.done.Load()
	frac := 1.0
	if p.total > 0 {
		frac = float64(done) / float64(p.total)
	}
	filled := int(frac * width)
	rate := float64(done) / time.Since(p.start).Seconds() / (1 << 20)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %8.1f MiB %7.1f MiB/s", strings.Repeat("=", filled),
		strings.Repeat(" ", width-filled), 100*frac, float64(done)/(1<<20), rate)
}
