package server_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// TestLastUnderKeepPerTopic: with --keep-per-topic 2, a subscription with
// last: 100 on a topic that got 4 events replays the 2 that history
// shows, although the hub's window of recent events saw all 4, and then
// goes live: nothing that retention removed is served from memory.
func TestLastUnderKeepPerTopic(t *testing.T) {
	for _, proto := range []string{wstest.TransportWS, wstest.LegacyWS} {
		t.Run(proto, func(t *testing.T) {
			e := startWith(t, eventstore.Config{MaxPayload: 64 << 10, MaxMsgsPerSubject: 2}, api.Config{}, replay.Config{})
			<-e.hub.Ready()
			for i := range 4 {
				e.publish(t, "dev.1", map[string]any{"n": i})
				// The window takes each event before the next removes one.
				testenv.Eventually(t, 10*time.Second, "the hub to see the event", func() bool { return e.hub.Head() == uint64(i+1) })
			}
			history := e.historyIDs(t, "", "dev.1")
			if len(history) != 2 {
				t.Fatalf("history of dev.1 holds %d events, want the newest 2", len(history))
			}
			c := wstest.Dial(t, e.url, proto, nil)
			c.Init()
			c.Subscribe("s", startQuery, map[string]any{"topics": []string{"dev.1"}, "last": 100})
			next := func() liveEvent {
				m := c.Read(10 * time.Second)
				var r struct{ Data struct{ Events liveEvent } }
				if err := json.Unmarshal(m.Payload, &r); err != nil || !wstest.IsData(m) {
					t.Fatalf("%s %s", m.Type, m.Payload)
				}
				return r.Data.Events
			}
			var replayed []string
			for range len(history) {
				ev := next()
				if ev.Live {
					t.Fatalf("a replayed event is marked live: %+v", ev)
				}
				replayed = append(replayed, ev.ID)
			}
			if !slices.Equal(replayed, history) {
				t.Fatalf("replayed %v, history shows %v", replayed, history)
			}
			// Nothing more was replayed: the next event is the next live one.
			testenv.Eventually(t, 5*time.Second, "the subscription to follow the hub", func() bool { return e.hub.Subscribers() == 1 })
			live := e.publish(t, "dev.1", map[string]any{"n": 4})
			if ev := next(); ev.ID != live.ID || !ev.Live {
				t.Fatalf("after the replay came %+v, want the live %s (replayed %v; history %v)", ev, live.ID, replayed, history)
			}
		})
	}
}
