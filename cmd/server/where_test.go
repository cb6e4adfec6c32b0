package main

import (
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/wstest"
)

const whereEventsQuery = `subscription($topics: [String!]!, $after: ID, $where: Filter) {
  events(topics: $topics, afterId: $after, where: $where) { id topic type data time }
}`

// TestRestartResumeWithWhere: a client with a filter resumes after the
// last event it received on a new process, after SIGKILL of the first,
// and gets exactly the later events that pass, none repeated.
func TestRestartResumeWithWhere(t *testing.T) {
	const topic = "orders"
	dataDir := t.TempDir()
	first := startServer(t, dataDir)
	var threes []any // n divisible by 3
	for n := 0; n < 100; n += 3 {
		threes = append(threes, n)
	}
	vars := func(after string) map[string]any {
		return map[string]any{"topics": []string{topic}, "after": after,
			"where": map[string]any{"and": []any{map[string]any{"path": "n", "in": threes}, map[string]any{"not": map[string]any{"path": "n", "eq": 30}}}}}
	}
	keep := func(n int) bool { return n%3 == 0 && n != 30 }
	var kept []wstest.Event
	publish := func(p *proc, from, to int) {
		for n := from; n < to; n++ {
			if ev := p.publish(t, topic, n); keep(n) {
				kept = append(kept, ev)
			}
		}
	}
	publish(first, 0, 50)
	sub := wstest.Dial(t, first.graphqlURL(), wstest.TransportWS, nil)
	sub.Init()
	sub.Subscribe("w", whereEventsQuery, vars(zeroID))
	assertEvents(t, "filtered replay", sub.Collect("w", "events", len(kept), 10*time.Second), kept)
	before := len(kept)
	publish(first, 50, 60)
	got := sub.Collect("w", "events", len(kept)-before, 10*time.Second)
	assertEvents(t, "filtered live events before the kill", got, kept[before:])
	lastSeen := got[len(got)-1].ID
	resumeAt := len(kept)

	first.kill9(t)
	second := startServer(t, dataDir)
	publish(second, 60, 70)
	for _, proto := range []string{wstest.TransportWS, wstest.LegacyWS} {
		c := wstest.Dial(t, second.graphqlURL(), proto, nil)
		c.Init()
		c.Subscribe("resume", whereEventsQuery, vars(lastSeen))
		assertEvents(t, "filtered resume after the restart ("+proto+")", c.Collect("resume", "events", len(kept)-resumeAt, 10*time.Second), kept[resumeAt:])
		assertQuiet(t, "filtered resume after the restart ("+proto+")", c)
	}
}
