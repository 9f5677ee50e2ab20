//go:build linux

package relay

import (
	"testing"
)

// TestMsgs runs the byte-for-byte tests with Config.Msgs: RecvMsg,
// SetMsg and Send, the received messages freed once sent.
func TestMsgs(t *testing.T) {
	testMsgs = true
	defer func() { testMsgs = false }()
	for _, tc := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"ManyConnectionsBothWays", TestManyConnectionsBothWays},
		{"LargeBothWays", TestLargeBothWays},
		{"HalfCloseClientFirst", TestHalfCloseClientFirst},
		{"HalfCloseUpstreamFirst", TestHalfCloseUpstreamFirst},
		{"UpstreamReset", TestUpstreamReset},
		{"BoundedWhenReaderStalls", TestBoundedWhenReaderStalls},
		{"StopClosesConnections", TestStopClosesConnections},
	} {
		t.Run(tc.name, tc.f)
	}
}
