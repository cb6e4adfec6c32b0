package eventstore

import "time"

// HoldCommits makes s's committer busy, as while it stores a batch, so that
// appends made meanwhile queue; release lets them go, as one batch when
// they fit. queued reports how many appends wait. It first waits, for up
// to ten seconds, until nothing is queued or being stored.
func (s *Store) HoldCommits() (queued func() int, release func()) {
	c := s.commits
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		c.mu.Lock()
		if !c.busy && len(c.queue) == 0 {
			break
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			panic("HoldCommits: the committer stayed busy for 10s")
		}
	}
	c.busy = true
	c.mu.Unlock()
	queued = func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.queue)
	}
	release = func() {
		c.mu.Lock()
		c.busy = false
		c.wakeHead()
		c.mu.Unlock()
	}
	return queued, release
}
