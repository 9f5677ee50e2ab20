// Package seat runs the callback goroutines of one of the engine's
// backends (an io_uring shard, or the portable backend's poller): a fixed
// set of workers, the seat that one of them holds, the watchdog that hands
// the seat on when a callback blocks, and the list of callbacks handed off
// from elsewhere. It knows nothing of rings, descriptors or Aios: what a
// backend waits on and does in a round are the Backend's hooks. It is
// internal because only the engine's backends should import it.
//
// Invariants (written here once; the backends point to them):
//
//   - One worker at a time holds the seat. Only the holder parks on the
//     backend's descriptor (Backend.Park: an epoll or kqueue instance
//     parked on Go's netpoller) and looks for new work (Backend.Round with
//     look). The others stand by on a condition variable, off the
//     netpoller: a second goroutine parked on the descriptor would be woken
//     by every event the holder is about to take anyway.
//   - A round runs on one worker's goroutine: the backend's part (reap, or
//     retry what is ready) adds callbacks to the worker's Batch, and the
//     worker runs them itself, so an event costs one goroutine wakeup.
//     AfterBatch follows every batch (the ring submits in one enter what
//     the callbacks queued), so a chain of callbacks wakes nobody.
//   - The watchdog: every round arms a timer (Config.Watchdog). A worker
//     in a round that has started no callback for a whole period is
//     stuck (a callback blocks, as a rule). Then: the backend hears Stuck,
//     so that what the round's callbacks started reaches the kernel now
//     rather than at the round's AfterBatch, and what they start later at
//     once (until Unstuck: the worker moved again); the callbacks after
//     the blocked one in its batch go to the ready list (the worker claims
//     each callback with a CAS, the watchdog steals the rest with one, so
//     each runs once); and if the worker holds the seat, the seat is freed
//     and a standby worker is signalled to take it. The stuck worker
//     finishes its callback when it returns (its round then ends if it
//     lost the seat: it learns so only there, and Backend.EndRound is
//     told), then stands by. So a blocking callback holds back nothing but
//     itself (issue 17 item 5): not what it started, not other
//     callbacks of its batch, not the backend. A marked worker is not
//     watched again until it moves, so a long block costs one fire. Seat
//     changes happen under mu: the watchdog frees the seat only from a
//     holder inside a round, and a free seat is taken only by a worker
//     outside one (which then looks at the lists before it parks), so
//     outside rounds exactly one worker acts as the holder. What no
//     worker can serve: more callbacks blocked at once than there are
//     workers.
//   - Handoff puts a callback on the ready list. (The callback of an
//     operation whose previous callback still runs is never handed off:
//     that callback's RunCallback runs it next, so one operation's
//     callbacks never overlap and a restart chain wakes nobody.) It
//     runs, in this order of preference: with Config.Spread, on the
//     callback's home worker (Homed), so that chains started from
//     outside the workers spread over them (a home worker that is stuck
//     is skipped, and when one gets stuck the watchdog moves what was
//     sent home to it to the ready list);
//     in the holder's round, if one is on (it looks at the list after every
//     batch and before it parks); on a standby worker, if the backend lets
//     standby workers run them (Config.StandbyRuns); else the parked holder
//     must be woken. Handoff never makes a system call (its callers hold
//     their own locks): it reports the wake, and the caller calls Wake
//     once it holds no lock. One wake is owed per park (wakeSent), and a
//     holder that leaves Park looks at the list before it parks again, so a
//     hand-off is never left without a worker that will see it.
//   - A heavy batch is split (Spread only): a worker about to run a
//     batch of at least splitMinBatch callbacks, whose recent batches
//     took splitHeavy or more per callback (a moving average of timed
//     batches), first passes the batch's Movable callbacks that belong to
//     another worker to that worker's own list, if at least
//     splitMinMoved belong elsewhere and that worker stands by (woken) or
//     runs a round (it takes the list after its batch) and is not stuck; never
//     to a parked holder. MoveTo is read with no lock held (Homed's Home
//     is not: it may read state its callback's lock guards), and the
//     scan that looks for candidates takes none, so a batch with none
//     costs no trip through mu. A ring's reaped CQEs of file chains
//     otherwise all run on the holder, one core.
//   - Close refuses hand-offs from then on; the workers run what was
//     handed off before, and exit. The backend closes its descriptor first,
//     so that a parked holder's Park returns.
//
// Lock order: (the caller's locks, e.g. an Aio's mutex) → mu. Neither a
// callback nor a Backend hook runs with mu held.
package seat
