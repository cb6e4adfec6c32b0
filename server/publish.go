package server

// POST /publish: a batch of events, one JSON object a line
// (application/x-ndjson), for producers that publish many at once. It is
// publishBatch over plain HTTP, without GraphQL's parsing: the same checks
// (graph.Resolver.PublishBatch), the same atomic batches, the same
// results.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph"
)

// batchBodyBytes bounds a POST /publish body (or 2 × the max payload +
// 64 KiB, the GraphQL endpoint's, if that is more): the size of one
// JetStream atomic batch, so that a batch within it is stored as one.
const batchBodyBytes = 8 << 20

// batchLine is one line of a POST /publish body: publishBatch's
// PublishInput.
type batchLine struct {
	Topic          string          `json:"topic"`
	Type           *string         `json:"type"`
	Data           json.RawMessage `json:"data"`
	IdempotencyKey *string         `json:"idempotencyKey"`
}

// batchAnswer is the answer to an accepted batch: how many of its events
// were stored and how many not, and each event's result in the order of
// the lines.
type batchAnswer struct {
	Stored int           `json:"stored"`
	Failed int           `json:"failed"`
	Events []batchResult `json:"events"`
}

// batchResult is one event's: its id and sequence, or why it was not
// stored (an error as GraphQL's, with extensions.code).
type batchResult struct {
	ID    string       `json:"id,omitempty"`
	Seq   uint64       `json:"seq,omitempty"`
	Error *batchFailed `json:"error,omitempty"`
}

type batchFailed struct {
	Message    string            `json:"message"`
	Extensions map[string]string `json:"extensions"`
}

// publishBatch serves POST /publish.
func publishBatch(res *graph.Resolver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-ndjson" && mt != "application/jsonl" {
			writeBatchError(w, http.StatusUnsupportedMediaType, codes.BadUserInput,
				"send Content-Type: application/x-ndjson, one event a line: {\"topic\":\"orders.eu\",\"type\":\"placed\",\"data\":{...},\"idempotencyKey\":\"...\"}", -1)
			return
		}
		var buf bytes.Buffer
		if r.ContentLength > 0 {
			buf.Grow(int(r.ContentLength))
		}
		_, err := buf.ReadFrom(r.Body)
		body := buf.Bytes()
		if err != nil {
			writeBatchError(w, http.StatusBadRequest, codes.BadUserInput, "could not read the request body", -1)
			return
		}
		evs, lines, err := parseBatch(body)
		if err == nil {
			var results []eventstore.Appended
			if results, err = res.PublishBatch(r.Context(), evs); err == nil {
				writeJSON(w, http.StatusOK, answer(r, res, results))
				return
			}
		}
		code, index := codes.Of(err), -1
		if be, ok := errors.AsType[*graph.BatchError](err); ok {
			index = be.Index
			err = fmt.Errorf("event %d (line %d): %w", be.Index, lines[be.Index], be.Err)
		}
		if code == "" {
			code = codes.Internal
		}
		writeBatchError(w, statusOf(code), code, err.Error(), index)
	})
}

// parseBatch reads a POST /publish body: one event a line, blank lines
// skipped, no field beside those of PublishInput. It returns the events
// and the line of each (from 1), or a *graph.BatchError for the first
// line that is not one event (its line last in lines). One decoder reads
// the whole body, which costs a fraction of one for each line.
func parseBatch(body []byte) ([]eventstore.BatchEvent, []int, error) {
	n := min(bytes.Count(body, []byte{'\n'})+1, graph.MaxBatch)
	evs, lines := make([]eventstore.BatchEvent, 0, n), make([]int, 0, n)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	line, pos := 1, 0 // the line at pos, the end of the last event
	for {
		start, newline := pos, false
		for ; start < len(body) && isSpace(body[start]); start++ {
			if body[start] == '\n' {
				line++
				newline = true
			}
		}
		if start == len(body) {
			return evs, lines, nil
		}
		if len(evs) > 0 && !newline {
			return nil, lines, &graph.BatchError{Index: len(evs) - 1, Err: fmt.Errorf("%w: more than one JSON value on the line", codes.ErrBadInput)}
		}
		if len(evs) == graph.MaxBatch {
			return nil, nil, fmt.Errorf("%w: more than %d events (line %d): split the batch", graph.ErrBatchTooLarge, graph.MaxBatch, line)
		}
		lines = append(lines, line)
		be, err := decodeEvent(dec)
		if err != nil {
			return nil, lines, &graph.BatchError{Index: len(evs), Err: fmt.Errorf("%w: %w", codes.ErrBadInput, err)}
		}
		pos = int(dec.InputOffset())
		if bytes.IndexByte(body[start:pos], '\n') >= 0 {
			return nil, lines, &graph.BatchError{Index: len(evs), Err: fmt.Errorf("%w: an event spans several lines: write one a line", codes.ErrBadInput)}
		}
		evs = append(evs, be)
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// decodeEvent reads the next event. type defaults to message, as
// publish's.
func decodeEvent(dec *json.Decoder) (eventstore.BatchEvent, error) {
	var l batchLine
	if err := dec.Decode(&l); err != nil {
		return eventstore.BatchEvent{}, fmt.Errorf("not an event (one JSON object a line, with topic, type, data and idempotencyKey): %v", err)
	}
	if len(l.Data) == 0 || string(l.Data) == "null" {
		return eventstore.BatchEvent{}, errors.New("data is required (any JSON value but null)")
	}
	be := eventstore.BatchEvent{Event: eventstore.Event{Topic: l.Topic, Type: graph.MessageType, Data: l.Data}}
	if l.Type != nil {
		be.Event.Type = *l.Type
	}
	if l.IdempotencyKey != nil {
		be.Key = *l.IdempotencyKey
	}
	return be, nil
}

// answer is the answer to an accepted batch.
func answer(r *http.Request, res *graph.Resolver, results []eventstore.Appended) batchAnswer {
	a := batchAnswer{Events: make([]batchResult, len(results))}
	for i, ap := range results {
		if ap.Err != nil {
			code, msg := res.Failure(r.Context(), ap.Err)
			a.Events[i].Error = &batchFailed{Message: msg, Extensions: map[string]string{"code": code}}
			a.Failed++
			continue
		}
		a.Events[i] = batchResult{ID: ap.Event.ID.String(), Seq: ap.Event.Seq}
		a.Stored++
	}
	return a
}

// writeBatchError refuses a batch; index, when not negative, is the event
// that refused it.
func writeBatchError(w http.ResponseWriter, status int, code, msg string, index int) {
	ext := map[string]any{"code": code}
	if index >= 0 {
		ext["index"] = index
	}
	writeJSON(w, status, map[string]any{"errors": []any{map[string]any{"message": msg, "extensions": ext}}})
}
