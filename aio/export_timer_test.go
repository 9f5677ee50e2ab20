package aio

import "github.com/aioring/aioring/internal/gtoken"

// TimerTokensAvailable reports whether callbacks on timers' goroutines
// can be named by goroutine token here (internal/gtoken).
const TimerTokensAvailable = gtoken.Available

// SetTimerTokens makes callbacks on timers' goroutines name themselves by
// their goroutine's token (on, where there are tokens) or by the digit
// chain (off), as on architectures without tokens; the returned func
// restores the previous choice. Only while no callback runs on a timer's
// goroutine: tests that use it must not run in parallel.
func SetTimerTokens(on bool) (restore func()) {
	old := timerTokens.Load()
	timerTokens.Store(on && gtoken.Available)
	return func() { timerTokens.Store(old) }
}
