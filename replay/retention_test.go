package replay_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
)

// The window of recent events holds what the stream holds: a replay it
// serves delivers exactly what a replay from storage would, whatever
// retention removed from the stream, from its middle (keep per topic) or
// its front (max messages, bytes, age).

// windowCase is a subscription whose replay the window serves: its start
// is found as a client's start point would be, on the stream as it is.
type windowCase struct {
	name   string
	topics []string
	start  func(t *testing.T, s *eventstore.Store, stored []eventstore.Event) uint64
	want   int // events it replays, as history shows them
}

func fromStart(*testing.T, *eventstore.Store, []eventstore.Event) uint64 { return 0 }

func lastN(n int, topics ...string) func(*testing.T, *eventstore.Store, []eventstore.Event) uint64 {
	return func(t *testing.T, s *eventstore.Store, _ []eventstore.Event) uint64 {
		after, err := s.AfterLast(context.Background(), eventstore.Query{Topics: topics}, n)
		if err != nil {
			t.Fatal(err)
		}
		return after
	}
}

// TestWindowKeepsPerTopic is the report: with keep-per-topic 2, a
// subscription with last 100 on a topic that got 4 events replays the 2
// that history shows, not the 4 the window saw; one resuming after an id
// inside the window skips the superseded events as storage does. The
// window fills from its tail, or at start from storage and then from its
// tail: superseded events arrive both ways.
func TestWindowKeepsPerTopic(t *testing.T) {
	cases := []windowCase{
		{"last 100 on a topic", []string{"dev.1"}, lastN(100, "dev.1"), 2},
		{"afterId inside the window", []string{">"}, func(t *testing.T, s *eventstore.Store, stored []eventstore.Event) uint64 {
			return stored[0].Seq // dev.0's event, still stored, older than every superseded one
		}, 3},
		{"last 3 on every topic", []string{">"}, lastN(3, ">"), 3},
	}
	for _, loaded := range []bool{false, true} {
		t.Run(map[bool]string{false: "filled by the tail", true: "loaded at start"}[loaded], func(t *testing.T) {
			n := testenv.StartNATS(t)
			store := n.Store(eventstore.Config{MaxMsgsPerSubject: 2})
			var hub *replay.Hub
			appendTo := func(topics ...string) {
				for _, topic := range topics {
					appendSeen(t, store, hub, topic, json.RawMessage(`1`))
				}
			}
			if !loaded {
				hub = startHub(t, store, replay.Config{})
				<-hub.Ready()
			}
			appendTo("dev.0", "dev.1", "dev.1", "dev.1") // 1..4: 2 superseded
			if loaded {
				hub = startHub(t, store, replay.Config{})
				<-hub.Ready()
			}
			appendTo("dev.1", "dev.2", "dev.1") // 5..7: 3 and 4 superseded, in the middle
			checkWindowCases(t, store, hub, cases)
		})
	}
}

// TestWindowFrontRetention: retention from the front of the stream (max
// messages, which the window counts as JetStream does; max bytes and max
// age, which it learns from the stream's first sequence) leaves nothing
// in the window that storage no longer holds. A stream that fits the
// window is served from it whole, from any start.
func TestWindowFrontRetention(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   eventstore.Config
		data  int // bytes of each event's data
		wait  func(t *testing.T, s *eventstore.Store)
		cases []windowCase
	}{
		{name: "max messages", cfg: eventstore.Config{MaxMsgs: 5}, data: 1, cases: []windowCase{
			{"last 100 on a topic", []string{"b"}, lastN(100, "b"), 2},
			{"last 100", []string{">"}, lastN(100, ">"), 5},
			{"from the start", []string{"a"}, fromStart, 1},
		}},
		{name: "max bytes", cfg: eventstore.Config{MaxBytes: 4 << 10, MaxPayload: 1 << 10}, data: 600, cases: []windowCase{
			{"last 100", []string{">"}, lastN(100, ">"), -1},
			{"from the start", []string{"a", "b"}, fromStart, -1},
		}},
		{name: "max age", cfg: eventstore.Config{MaxAge: time.Second}, data: 1, wait: func(t *testing.T, s *eventstore.Store) {
			testenv.Eventually(t, 10*time.Second, "the events to expire", func() bool {
				st, err := s.State(context.Background())
				return err == nil && st.Events == 0
			})
		}, cases: []windowCase{
			{"from the start", []string{">"}, fromStart, 0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := testenv.StartNATS(t)
			store := n.Store(tc.cfg)
			hub := startHub(t, store, replay.Config{})
			<-hub.Ready()
			const total = 12
			data := json.RawMessage(`"` + strings.Repeat("x", max(tc.data-2, 0)) + `"`)
			if tc.data == 1 {
				data = json.RawMessage(`1`)
			}
			for i := range total {
				appendSeen(t, store, hub, []string{"a", "b", "c"}[i%3], data)
			}
			if tc.wait != nil {
				tc.wait(t, store)
			}
			if st, err := store.State(context.Background()); err != nil || st.FirstSeq <= 1 {
				t.Fatalf("retention removed nothing: %+v, %v", st, err)
			}
			checkWindowCases(t, store, hub, tc.cases)
		})
	}
}

// checkWindowCases subscribes as each case says on a hub that has seen
// every stored event and checks that it replays exactly what storage
// holds after its start, from the window (no storage read), then the next
// live event.
func checkWindowCases(t *testing.T, store *eventstore.Store, hub *replay.Hub, cases []windowCase) {
	t.Helper()
	ctx := context.Background()
	stored := reread(t, store)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			after := tc.start(t, store, stored)
			var want []uint64
			for _, ev := range stored {
				if ev.Seq > after && (eventstore.Query{Topics: tc.topics}).Matches(ev) {
					want = append(want, ev.Seq)
				}
			}
			if tc.want >= 0 && len(want) != tc.want {
				t.Fatalf("storage holds %d events after %d, the case expects %d: %v", len(want), after, tc.want, want)
			}
			before := hub.ReplayReads()
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			sub, err := hub.Subscribe(sctx, replay.Request{Topics: tc.topics, After: after})
			if err != nil {
				t.Fatal(err)
			}
			got := seqs(receive(t, sub, len(want), 10*time.Second))
			if !slices.Equal(got, want) {
				t.Fatalf("replayed %v after %d, storage holds %v", got, after, want)
			}
			// Nothing more was replayed: the next event is the next live one.
			testenv.Eventually(t, 5*time.Second, "the subscription to follow the hub", func() bool { return hub.Subscribers() == 1 })
			topic := strings.TrimSuffix(strings.TrimSuffix(tc.topics[0], ">"), "*")
			if topic == "" {
				topic = "live"
			}
			live, err := store.Append(ctx, eventstore.Event{Topic: topic, Type: "n", Data: json.RawMessage(`2`)})
			if err != nil {
				t.Fatal(err)
			}
			if next := receive(t, sub, 1, 10*time.Second)[0]; next.Seq != live.Seq {
				t.Fatalf("after the replay came %d (%s), want the live %d", next.Seq, next.Topic, live.Seq)
			}
			stored = reread(t, store) // the live event may have superseded or pushed out another
			cancel()
			testenv.Eventually(t, 5*time.Second, "the subscription to end", func() bool { return hub.Subscribers() == 0 })
			// The counters move just after each delivery is taken.
			testenv.Eventually(t, 5*time.Second, "the counters", func() bool {
				r := hub.ReplayReads()
				return r.FromMemory+r.FromStorage-before.FromMemory-before.FromStorage == int64(len(want))
			})
			reads := hub.ReplayReads()
			if mem, disk := reads.FromMemory-before.FromMemory, reads.FromStorage-before.FromStorage; mem != int64(len(want)) || disk != 0 {
				t.Fatalf("replayed %d events from memory and %d from storage, want all %d from the window", mem, disk, len(want))
			}
		})
	}
}

// appendSeen appends an event and, if hub runs, waits until its tail has
// put it in the window: before a later event makes retention remove it,
// which a tail that lags would never see.
func appendSeen(t *testing.T, s *eventstore.Store, hub *replay.Hub, topic string, data json.RawMessage) {
	t.Helper()
	ev, err := s.Append(context.Background(), eventstore.Event{Topic: topic, Type: "n", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	if hub != nil {
		testenv.Eventually(t, 10*time.Second, "the hub to see the event", func() bool { return hub.Head() == ev.Seq })
	}
}

func reread(t *testing.T, s *eventstore.Store) []eventstore.Event {
	t.Helper()
	var out []eventstore.Event
	for ev, err := range s.Read(context.Background(), eventstore.Query{}) {
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		out = append(out, ev)
	}
	return out
}
