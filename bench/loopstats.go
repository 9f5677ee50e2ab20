package main

import "github.com/aioring/aioring/aio"

// loopStats are the engine's completion-loop counters per completion.
type loopStats struct {
	Completions   uint64  `json:"completions"`
	EntersPerOp   float64 `json:"enters_per_op"`
	SleepsPerOp   float64 `json:"sleeps_per_op"`
	WakeupsPerOp  float64 `json:"wakeups_per_op"`
	SubmitsPerOp  float64 `json:"sqes_per_op"`
	engine        *aio.Engine
	enters, sleep uint64
	wakeups, sqes uint64
}

// watchLoop snapshots e's counters; done turns the difference into rates.
func watchLoop(e *aio.Engine) *loopStats {
	s := e.Stats()
	return &loopStats{engine: e, Completions: s.Completed, enters: s.Enters, sleep: s.Sleeps, wakeups: s.Wakeups, sqes: s.Submitted}
}

func (l *loopStats) done() *loopStats {
	s := l.engine.Stats()
	n := s.Completed - l.Completions
	if n == 0 {
		return nil
	}
	per := func(a, b uint64) float64 { return float64(b-a) / float64(n) }
	return &loopStats{
		Completions:  n,
		EntersPerOp:  per(l.enters, s.Enters),
		SleepsPerOp:  per(l.sleep, s.Sleeps),
		WakeupsPerOp: per(l.wakeups, s.Wakeups),
		SubmitsPerOp: per(l.sqes, s.Submitted),
	}
}
