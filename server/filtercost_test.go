package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/auth/jwtauth"
	"github.com/rewind-dev/rewind/eventfilter"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/authtest"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// deepPath is 63 levels of "d" then "t": a path of 64 segments.
var deepPath = strings.Repeat("d.", 63) + "t"

// attackData is the data of the attacker's events: an RFC 3339 time with
// an offset at deepPath.
func attackData(i int) map[string]any {
	var v any = "2026-03-01T10:00:00.123456789+02:00"
	v = map[string]any{"t": v}
	for range 63 {
		v = map[string]any{"d": v}
	}
	m := v.(map[string]any)
	m["i"] = i
	return m
}

// expensiveFilter is filter i of the attack: an and of 62 time
// comparisons at deepPath that pass (each follows 64 segments and parses
// the time) and a last one that fails, so that every leaf is evaluated on
// every event and nothing is delivered: pure filter work, no fan-out.
func expensiveFilter(i int) map[string]any {
	leaves := make([]any, 0, 63)
	for j := range 62 {
		leaves = append(leaves, map[string]any{"path": deepPath, "gt": i*100 + j})
	}
	leaves = append(leaves, map[string]any{"path": deepPath, "lt": 0})
	return map[string]any{"and": leaves}
}

// TestFiltersDoNotStallOtherTenants: one principal runs 2,000 distinct
// expensive filters on its own topic, from 10 sockets, while it publishes
// there 20 events a second; another principal, on another topic, receives
// every one of its events, in order, exactly once, on an unfiltered and
// on a filtered subscription, with a publish-to-receive p99 far under the
// seconds it took when the hub's tail evaluated filters itself. The
// filter budget is lifted so that the attack is all accepted: what keeps
// the victim's delivery going is where filters are evaluated, not the
// budget (TestFilterBudget covers that).
func TestFiltersDoNotStallOtherTenants(t *testing.T) {
	key := authtest.NewHS256(t)
	v, err := jwtauth.New(jwtauth.Config{SecretFile: key.File})
	if err != nil {
		t.Fatal(err)
	}
	e := startWith(t, eventstore.Config{MaxPayload: 64 << 10}, api.Config{Auth: v}, replay.Config{MaxFilterCost: -1})
	mallory := key.Token(t, "mallory", authtest.Grants{Subscribe: []string{"mallory.>"}, Publish: []string{"mallory.>"}}, time.Hour)
	victim := key.Token(t, "victim", authtest.Grants{Subscribe: []string{"victim.>"}, Publish: []string{"victim.>"}}, time.Hour)
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

	const sockets, perSocket = 10, 200
	for s := range sockets {
		c := wstest.Dial(t, e.url, wstest.TransportWS, bearer(mallory))
		c.Init()
		for i := range perSocket {
			c.Subscribe(fmt.Sprint(i), whereQuery, map[string]any{"topics": []string{"mallory.t"}, "where": expensiveFilter(s*perSocket + i)})
		}
		// Errors (none expected) would arrive on the socket; the count of
		// live subscribers below is the check that every one was accepted.
	}
	vc := wstest.Dial(t, e.url, wstest.TransportWS, bearer(victim))
	vc.Init()
	vc.Subscribe("plain", whereQuery, map[string]any{"topics": []string{"victim.t"}})
	vc.Subscribe("filtered", whereQuery, map[string]any{"topics": []string{"victim.t"}, "where": map[string]any{"path": "n", "gte": 0}})
	testenv.Eventually(t, 60*time.Second, "every subscription to follow", func() bool { return e.hub.Subscribers() == sockets*perSocket+2 })

	// The victim reads on its own, noting when each event arrives.
	type arrival struct {
		id  string
		lat time.Duration
	}
	got := map[string][]arrival{}
	const n = 300
	readDone := make(chan error, 1)
	go func() {
		for len(got["plain"]) < n || len(got["filtered"]) < n {
			m, err := vc.TryRead(60 * time.Second)
			if err != nil {
				readDone <- fmt.Errorf("after %d and %d events: %w", len(got["plain"]), len(got["filtered"]), err)
				return
			}
			if !wstest.IsData(m) {
				readDone <- fmt.Errorf("%s: %s %s", m.ID, m.Type, m.Payload)
				return
			}
			var r struct {
				Data struct{ Events wstest.Event }
			}
			_ = json.Unmarshal(m.Payload, &r)
			var d struct{ Sent int64 }
			_ = json.Unmarshal(r.Data.Events.Data, &d)
			got[m.ID] = append(got[m.ID], arrival{r.Data.Events.ID, time.Since(time.Unix(0, d.Sent))})
		}
		readDone <- nil
	}()

	// Mallory publishes on its topic while the victim's events go out.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			data := attackData(i)
			if _, r := e.post(t, mallory, `mutation($d: JSON!) { publish(topic: "mallory.t", data: $d) { id } }`, map[string]any{"d": data}); len(r.Errors) > 0 {
				t.Errorf("mallory's publish: %v", r.Errors)
				return
			}
		}
	}()
	var want []string
	tick := time.NewTicker(50 * time.Millisecond)
	for i := range n {
		<-tick.C
		data := map[string]any{"n": i, "sent": time.Now().UnixNano()}
		_, r := e.post(t, victim, `mutation($d: JSON!) { publish(topic: "victim.t", data: $d) { id } }`, map[string]any{"d": data})
		if len(r.Errors) > 0 {
			t.Fatalf("victim's publish: %v", r.Errors)
		}
		var p struct{ ID string }
		_ = json.Unmarshal(r.Data["publish"], &p)
		want = append(want, p.ID)
	}
	tick.Stop()
	err = <-readDone
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("the victim's socket: %v", err)
	}
	for _, sub := range []string{"plain", "filtered"} {
		ids := make([]string, len(got[sub]))
		lats := make([]time.Duration, len(got[sub]))
		for i, a := range got[sub] {
			ids[i], lats[i] = a.id, a.lat
		}
		if !slices.Equal(ids, want) {
			t.Errorf("%s: got %d events, want %d in order; first difference at %d", sub, len(ids), len(want), firstDiff(ids, want))
		}
		slices.Sort(lats)
		p50, p99 := lats[len(lats)/2], lats[len(lats)*99/100]
		t.Logf("victim %s subscription: %d events, publish-to-receive p50 %v, p99 %v, max %v, under %d distinct filters of another principal",
			sub, len(lats), p50.Round(time.Millisecond), p99.Round(time.Millisecond), lats[len(lats)-1].Round(time.Millisecond), sockets*perSocket)
		if p99 > 2*time.Second {
			t.Errorf("%s: p99 %v: another principal's filters stall delivery", sub, p99)
		}
	}
}

// TestFilterBudget: with the default budget, a principal's distinct
// filters are accepted while their cost fits, and the next ones are
// refused with FILTER_BUDGET_EXCEEDED, saying why; another principal's
// filters are charged to its own budget.
func TestFilterBudget(t *testing.T) {
	key := authtest.NewHS256(t)
	v, err := jwtauth.New(jwtauth.Config{SecretFile: key.File})
	if err != nil {
		t.Fatal(err)
	}
	e := startWith(t, eventstore.Config{MaxPayload: 64 << 10}, api.Config{Auth: v}, replay.Config{})
	mallory := key.Token(t, "mallory", authtest.Grants{Subscribe: []string{"mallory.>"}}, time.Hour)
	victim := key.Token(t, "victim", authtest.Grants{Subscribe: []string{"victim.>"}, Publish: []string{"victim.>"}}, time.Hour)
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

	spec, _ := json.Marshal(expensiveFilter(0))
	f, err := eventfilter.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	fits := replay.DefaultMaxFilterCost / replay.FilterCost(f)
	t.Logf("each filter costs %d: %d fit in the default budget of %d", replay.FilterCost(f), fits, replay.DefaultMaxFilterCost)
	const over = 5
	mc := wstest.Dial(t, e.url, wstest.TransportWS, bearer(mallory))
	mc.Init()
	for i := range fits + over {
		mc.Subscribe(fmt.Sprint(i), whereQuery, map[string]any{"topics": []string{"mallory.t"}, "where": expensiveFilter(i)})
	}
	for range over {
		m := mc.Read(10 * time.Second)
		if m.Type != "error" {
			t.Fatalf("got %s %s, want an error", m.Type, m.Payload)
		}
		if c := wstest.ErrorCodes(t, m); len(c) != 1 || c[0] != "FILTER_BUDGET_EXCEEDED" {
			t.Fatalf("codes %v, want FILTER_BUDGET_EXCEEDED: %s", c, m.Payload)
		}
		if !strings.Contains(string(m.Payload), "filter budget exceeded: this filter costs") {
			t.Fatalf("message %s", m.Payload)
		}
	}
	// Operations start concurrently: which ones fit is not fixed, how
	// many is.
	testenv.Eventually(t, 10*time.Second, "mallory's filters to follow", func() bool { return e.hub.Subscribers() == fits })

	vc := wstest.Dial(t, e.url, wstest.TransportWS, bearer(victim))
	vc.Init()
	vc.Subscribe("v", whereQuery, map[string]any{"topics": []string{"victim.t"}, "where": map[string]any{"path": "n", "gte": 1}})
	testenv.Eventually(t, 10*time.Second, "the victim's filter to follow", func() bool { return e.hub.Subscribers() == fits+1 })
	e.post(t, victim, `mutation { publish(topic: "victim.t", data: {n: 0}) { id } }`, nil)
	_, r := e.post(t, victim, `mutation { publish(topic: "victim.t", data: {n: 1}) { id } }`, nil)
	var p struct{ ID string }
	_ = json.Unmarshal(r.Data["publish"], &p)
	if got := vc.Collect("v", "events", 1, 10*time.Second); got[0].ID != p.ID {
		t.Fatalf("the victim got %s, want %s", got[0].ID, p.ID)
	}
}
