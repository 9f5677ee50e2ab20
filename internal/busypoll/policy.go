package busypoll

// The policy. A holder polls for at most Policy.Max, and only while
// polling pays:
//   - a poll that finds nothing turns polling off; a park that ends
//     within Max of its start (work a poll would have caught) turns it on
//     again. A server whose work comes further apart than that polls once
//     per idle spell, not once per message;
//   - a look that comes back more than Max after the one before means the
//     thread lost its CPU to another task (a busy machine: the yield
//     handed it over, or the kernel preempted it), and a poll that cannot
//     keep its CPU only delays the work it waits for, by a time slice:
//     polling stops for a back-off of BackoffMin, which doubles with each
//     such poll up to BackoffMax and starts again at BackoffMin after a
//     poll that kept its CPU (a variant that kept it growing did worse,
//     decision 50).
//
// Only the seat holder polls, outside rounds, so a Policy needs no lock:
// a seat change is ordered by the seat's mutex.

import "time"

// Bounds of the back-off after a poll that lost its CPU.
const (
	BackoffMin = 10 * time.Millisecond
	BackoffMax = time.Second
)

// Policy is one seat's polling policy.
type Policy struct {
	Max     time.Duration // how long a poll may last; 0 or less: never poll
	off     bool          // the last poll found nothing: park at once until a park ends within Max
	resume  time.Time     // no poll before this (a poll lost its CPU)
	backoff time.Duration // the next back-off; 0 means BackoffMin
}

// Enabled reports, without a clock read, whether a poll might begin: it
// may be configured and was not turned off by an empty one.
func (p *Policy) Enabled() bool { return p.Max > 0 && !p.off }

// Off reports whether an empty poll turned polling off (ParkedFor then
// wants the park's length).
func (p *Policy) Off() bool { return p.off }

// May reports whether a poll may begin at now.
func (p *Policy) May(now time.Time) bool {
	return p.Max > 0 && !p.off && !now.Before(p.resume)
}

// Kept records a poll that found work without losing its CPU.
func (p *Policy) Kept() { p.backoff = 0 }

// Empty records a poll that found nothing in its time.
func (p *Policy) Empty() { p.off, p.backoff = true, 0 }

// Lost records a poll whose thread was off its CPU for longer than a
// whole poll, seen at now: no poll for the back-off, which doubles.
func (p *Policy) Lost(now time.Time) {
	if p.backoff == 0 {
		p.backoff = BackoffMin
	}
	p.resume = now.Add(p.backoff)
	p.backoff = min(2*p.backoff, BackoffMax)
}

// ParkedFor records a park that lasted d: one that a poll would have
// caught turns polling on again.
func (p *Policy) ParkedFor(d time.Duration) {
	if p.off && d <= p.Max {
		p.off = false
	}
}
