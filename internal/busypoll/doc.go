// Package busypoll is the policy of a seat holder's short poll before it
// parks (docs/design.md, decisions 50 and 70): whether the next poll may
// begin, and what a poll that found work, found nothing, or lost its CPU
// means for the ones after it. The mechanism (what is polled, how the
// thread yields between looks) is the backend's: the ring's in
// internal/completion, the portable backend's in internal/portable.
package busypoll
