package main

import (
	"math/bits"
	"time"
)

// hist is a log-linear latency histogram of nanosecond values: exact below
// 64 ns, then 32 buckets per power of two (about 3% resolution). It is not
// safe for concurrent use; every worker keeps its own and they are merged
// once the workers have stopped.
type hist struct {
	counts [histBuckets]uint64
	n      uint64
	max    int64
}

const (
	histLinear  = 64
	histSub     = 32
	histBuckets = histLinear + 58*histSub
)

func histIndex(v int64) int {
	if v < histLinear {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 6 // v>>e is in [32, 64)
	return histLinear + (e-1)*histSub + int(uint64(v)>>e) - histSub
}

// histValue is the midpoint of bucket i.
func histValue(i int) int64 {
	if i < histLinear {
		return int64(i)
	}
	e := (i-histLinear)/histSub + 1
	m := int64((i-histLinear)%histSub + histSub)
	return m<<e + (int64(1)<<e)/2
}

func (h *hist) record(d time.Duration) {
	v := int64(d)
	h.counts[histIndex(v)]++
	h.n++
	if v > h.max {
		h.max = v
	}
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the value below which a fraction q of the samples lie,
// in microseconds; 0 when there are none.
func (h *hist) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n))
	if rank >= h.n {
		rank = h.n - 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			return float64(min(histValue(i), h.max)) / 1e3
		}
	}
	return float64(h.max) / 1e3
}

func (h *hist) maxUs() float64 { return float64(h.max) / 1e3 }
