package server

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/graph"
)

// FuzzParseBatch: whatever body a client sends to POST /publish, reading it
// never panics, and either gives one event for each line that holds one
// (its data JSON, never null, the lines increasing), or refuses it with a
// code, naming a line it read when it names an event.
func FuzzParseBatch(f *testing.F) {
	for _, s := range []string{
		`{"topic":"t","data":1}`,
		"{\"topic\":\"t\",\"type\":\"placed\",\"data\":{\"a\":[1,2]},\"idempotencyKey\":\"k\"}\r\n\n{\"topic\":\"u\",\"data\":\"x\"}\n",
		`{"topic":"t","data":null}`, `{"topic":"t"}`, `{"topic":"t","data":1} {"topic":"t","data":2}`,
		"{\"topic\":\"t\",\n\"data\":1}", `[1]`, `{"topic":"t","data":1,"key":"k"}`, "\n\n \t\n", `{"data":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, lines, err := parseBatch(body)
		if err != nil {
			if codes.Of(err) == "" {
				t.Fatalf("refused without a code: %v", err)
			}
			if be, ok := errors.AsType[*graph.BatchError](err); ok && (be.Index < 0 || be.Index >= len(lines)) {
				t.Fatalf("refused event %d, of %d lines read: %v", be.Index, len(lines), err)
			}
			return
		}
		if len(lines) != len(evs) || len(evs) > graph.MaxBatch {
			t.Fatalf("%d events on %d lines", len(evs), len(lines))
		}
		for i, ev := range evs {
			if !json.Valid(ev.Event.Data) || string(ev.Event.Data) == "null" || i > 0 && lines[i] <= lines[i-1] {
				t.Fatalf("event %d on line %d: %+v", i, lines[i], ev)
			}
		}
	})
}
