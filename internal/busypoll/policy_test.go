package busypoll

import (
	"testing"
	"time"
)

// The polling policy: off after an empty poll until a park ends within a
// poll's length; after a poll that lost its CPU, no poll for a back-off
// that doubles up to its cap and starts again after a poll that kept it.
func TestBusyPollPolicy(t *testing.T) {
	t0 := time.Unix(1000, 0)
	bp := Policy{Max: 50 * time.Microsecond}
	if !bp.May(t0) {
		t.Fatal("a fresh policy does not poll")
	}
	bp.Empty()
	if bp.May(t0) {
		t.Fatal("polls again after an empty poll")
	}
	bp.ParkedFor(time.Millisecond)
	if bp.May(t0) {
		t.Fatal("a long park turned polling on again")
	}
	bp.ParkedFor(30 * time.Microsecond)
	if !bp.May(t0) {
		t.Fatal("a park a poll would have caught did not turn polling on again")
	}

	// Back-offs: 10 ms, 20 ms, 40 ms... up to 1 s.
	now := t0
	want := BackoffMin
	for i := 0; i < 12; i++ {
		bp.Lost(now)
		if bp.May(now.Add(want - time.Nanosecond)) {
			t.Fatalf("loss %d: polls before its back-off of %v", i+1, want)
		}
		if !bp.May(now.Add(want)) {
			t.Fatalf("loss %d: no poll after its back-off of %v", i+1, want)
		}
		now = now.Add(want)
		want = min(2*want, BackoffMax)
	}
	bp.Kept()
	bp.Lost(now)
	if !bp.May(now.Add(BackoffMin)) {
		t.Fatal("a poll that kept its CPU did not reset the back-off")
	}

	never := Policy{}
	if never.May(t0) {
		t.Fatal("max 0 polls")
	}
}

// Readied reports each batch of readied goroutines once.
func TestReadied(t *testing.T) {
	var r Readied
	if r.Moved() {
		t.Fatal("Moved with nothing readied")
	}
	r.Add()
	r.Add()
	if !r.Moved() {
		t.Fatal("not Moved after two were readied")
	}
	if r.Moved() {
		t.Fatal("Moved twice for the same readied goroutines")
	}
}
