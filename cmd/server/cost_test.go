package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/rewind-dev/rewind/internal/proctest"
)

// peakRSS returns the peak resident memory of process pid (VmHWM), in
// bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/pid/status")
	return 0
}

// TestAmplificationKeepsMemory: the documents that made one 500 KB event
// into gigabytes of response (aliased data, on an event, a page of history,
// _entities) are refused, and a real server's peak RSS stays within a small
// bound through all of them and the largest pages it does serve.
func TestAmplificationKeepsMemory(t *testing.T) {
	srv := proctest.StartRewind(t, "rewind", "DATA_DIR="+t.TempDir(), "FEDERATION=true")
	post := func(query string, vars map[string]any) (codes []string, size int) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		resp, err := http.Post(srv.URL(), "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Errors []struct {
				Extensions map[string]any
			}
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("response %.200s: %v", raw, err)
		}
		for _, e := range r.Errors {
			code, _ := e.Extensions["code"].(string)
			codes = append(codes, code)
		}
		return codes, len(raw)
	}
	big := strings.Repeat("x", 500<<10)
	var id string
	for range 20 {
		body, _ := json.Marshal(map[string]any{"query": `mutation($d: JSON!) { publish(topic: "big.a", data: $d) { id } }`, "variables": map[string]any{"d": big}})
		resp, err := http.Post(srv.URL(), "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Data struct{ Publish struct{ ID string } }
		}
		_ = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		id = r.Data.Publish.ID
	}
	aliases := func(n int, sel string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, " a%d: %s", i, sel)
		}
		return b.String()
	}
	// Served, the largest: pages of the 500 KB events up to the budget.
	for range 3 {
		if codes, size := post(`{ events(topic: "big.a", first: 50) { edges { node { data } } } }`, nil); len(codes) > 0 || size < 4<<20 {
			t.Fatalf("a page: %v, %d bytes", codes, size)
		}
	}
	before := peakRSS(t, srv.Cmd.Process.Pid)
	reps := make([]any, 400)
	for i := range reps {
		reps[i] = map[string]any{"__typename": "Event", "id": id}
	}
	for _, q := range []string{
		`{ event(id: "` + id + `") {` + aliases(1500, "data") + ` } }`,
		`{ events(topic: "big.a", first: 1000) { edges { node {` + aliases(100, "data") + ` } } } }`,
		`subscription { events(topics: ["big.*"], afterId: "00000000000000000000000000") {` + aliases(100, "data") + ` } }`,
		`query($r: [_Any!]!) { _entities(representations: $r) { ... on Event {` + aliases(100, "data") + ` } } }`,
	} {
		for range 5 {
			if codes, _ := post(q, map[string]any{"r": reps}); len(codes) == 0 {
				t.Fatalf("served: %.100s", q)
			}
		}
	}
	for range 5 {
		if _, size := post(`query($r: [_Any!]!) { _entities(representations: $r) { ... on Event { data } } }`, map[string]any{"r": reps}); size > 12<<20 {
			t.Fatalf("_entities of 400 large events answered %d bytes", size)
		}
	}
	after := peakRSS(t, srv.Cmd.Process.Pid)
	t.Logf("peak RSS %d MiB after the pages served, %d MiB after the attacks (race detector: %v)", before>>20, after>>20, proctest.RaceEnabled())
	if after-before > 256<<20 {
		t.Fatalf("the attacks raised the peak RSS by %d MiB", (after-before)>>20)
	}
}
