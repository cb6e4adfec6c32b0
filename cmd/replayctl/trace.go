package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
)

func traceCommand() *command {
	return &command{
		name:    "trace",
		args:    "ID",
		summary: "where an event is now: stored or not, its sequence, topic and trace id, and which subscriptions of a server have it",
		details: "With --server (a Rewind server's base URL; its admin token in --token or REWIND_TOKEN when it uses --auth=jwt),\n" +
			"it lists that instance's running subscriptions whose topics take the event, each past it (delivered,\n" +
			"or left out by its filter) or behind it, from the server's GET /debug/subscriptions. The trace id\n" +
			"finds the event's append and every traced delivery in a tracing backend.",
		example: "  replayctl trace 01J9Z8N1F2K3M4P5Q6R7S8T9V0\n  replayctl trace --server http://rewind-1:8080 --token \"$TOKEN\" 01J9Z8N1F2K3M4P5Q6R7S8T9V0",
		run:     runTrace,
	}
}

// traceJSON is trace --json.
type traceJSON struct {
	ID       string `json:"id"`
	Stored   bool   `json:"stored"`
	Why      string `json:"why,omitempty"` // why it is not stored
	Seq      uint64 `json:"seq,omitempty"`
	Topic    string `json:"topic,omitempty"`
	Type     string `json:"type,omitempty"`
	Time     string `json:"time"`
	TraceID  string `json:"traceId,omitempty"`
	SpanID   string `json:"spanId,omitempty"`
	FirstSeq uint64 `json:"firstSeq"`
	LastSeq  uint64 `json:"lastSeq"`
	// Server is what --server said of its subscriptions.
	Server *serverTraceJSON `json:"server,omitempty"`
}

type serverTraceJSON struct {
	URL           string             `json:"url"`
	Head          uint64             `json:"head"`
	Subscriptions []subscriptionJSON `json:"subscriptions"`
	Truncated     bool               `json:"truncated,omitempty"`
}

// subscriptionJSON is one entry of the server's GET /debug/subscriptions.
type subscriptionJSON struct {
	ID        uint64   `json:"id"`
	Topics    []string `json:"topics"`
	Types     []string `json:"types,omitempty"`
	Via       string   `json:"via,omitempty"`
	Owner     string   `json:"owner,omitempty"`
	Started   string   `json:"started"`
	Phase     string   `json:"phase"`
	Delivered uint64   `json:"delivered"`
	Position  uint64   `json:"position"`
	Pending   int      `json:"pending"`
	Behind    uint64   `json:"behind"`
	Event     string   `json:"event,omitempty"`
}

// maxTracePages bounds how many pages of subscriptions trace reads from
// a server (1,000 each).
const maxTracePages = 20

func runTrace(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet(a.cmd)
	var out outputFlags
	out.register(fs)
	server := fs.String("server", "", "a Rewind server's base `URL` (http://host:8080): list its subscriptions that take the event")
	token := fs.String("token", "", "an admin bearer `token` for --server (default $REWIND_TOKEN)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("trace takes one event id")
	}
	id, err := eventstore.ParseID(fs.Arg(0))
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	table, err := out.useTable(a.stdout)
	if err != nil {
		return err
	}
	if *token == "" {
		*token = os.Getenv("REWIND_TOKEN")
	}
	store, err := a.open(ctx, mustExist)
	if err != nil {
		return err
	}
	st, err := store.State(ctx)
	if err != nil {
		return err
	}
	j := traceJSON{ID: id.String(), Time: formatTime(eventstore.Event{ID: id}.Time()), FirstSeq: st.FirstSeq, LastSeq: st.LastSeq}
	ev, err := store.Get(ctx, id)
	switch {
	case err == nil:
		j.Stored, j.Seq, j.Topic, j.Type = true, ev.Seq, ev.Topic, ev.Type
		if ev.Trace.IsValid() {
			j.TraceID, j.SpanID = ev.Trace.TraceID().String(), ev.Trace.SpanID().String()
		}
	case errors.Is(err, eventstore.ErrCursorExpired), errors.Is(err, eventstore.ErrCursorNotFound):
		j.Why = err.Error()
	default:
		return err
	}
	if *server != "" && j.Stored {
		if j.Server, err = serverSubscriptions(ctx, *server, *token, ev); err != nil {
			return err
		}
	}
	if !table {
		return writeJSON(a.stdout, j)
	}
	return printTrace(a.stdout, j)
}

// serverSubscriptions asks server which of its subscriptions take ev,
// and where each is relative to it.
func serverSubscriptions(ctx context.Context, server, token string, ev eventstore.Event) (*serverTraceJSON, error) {
	base, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, usagef("--server %q: a base URL such as http://host:8080", server)
	}
	out := &serverTraceJSON{URL: base.String(), Subscriptions: []subscriptionJSON{}}
	var after uint64
	for page := 0; ; page++ {
		if page == maxTracePages {
			out.Truncated = true
			return out, nil
		}
		q := url.Values{"topic": {ev.Topic}, "type": {ev.Type}, "seq": {strconv.FormatUint(ev.Seq, 10)},
			"limit": {"1000"}, "after": {strconv.FormatUint(after, 10)}}
		var body struct {
			Head          uint64             `json:"head"`
			Subscriptions []subscriptionJSON `json:"subscriptions"`
			Next          uint64             `json:"next"`
		}
		if err := getJSON(ctx, base.String()+"/debug/subscriptions?"+q.Encode(), token, &body); err != nil {
			return nil, fmt.Errorf("--server %s: %w", base, err)
		}
		out.Head = body.Head
		out.Subscriptions = append(out.Subscriptions, body.Subscriptions...)
		if body.Next == 0 {
			return out, nil
		}
		after = body.Next
	}
}

func getJSON(ctx context.Context, u, token string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /debug/subscriptions: %s: %s", resp.Status, strings.TrimSpace(string(raw)))
	}
	return json.Unmarshal(raw, v)
}

func printTrace(w io.Writer, j traceJSON) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("Event", j.ID+" (created "+j.Time+")")
	if !j.Stored {
		row("Stored", "no: "+j.Why)
		row("Stream", fmt.Sprintf("sequences %d to %d", j.FirstSeq, j.LastSeq))
		return tw.Flush()
	}
	row("Stored", fmt.Sprintf("yes, sequence %d of %d..%d", j.Seq, j.FirstSeq, j.LastSeq))
	row("Topic", j.Topic)
	row("Type", j.Type)
	if j.TraceID != "" {
		row("Trace", j.TraceID+" (append span "+j.SpanID+")")
	} else {
		row("Trace", "none: its append was not sampled, or tracing was off")
	}
	if s := j.Server; s != nil {
		past, behind := 0, 0
		for _, sub := range s.Subscriptions {
			if sub.Event == "past" {
				past++
			} else {
				behind++
			}
		}
		row("Server", fmt.Sprintf("%s: live tail at %d; %d subscriptions take the event: %d past it, %d behind", s.URL, s.Head, len(s.Subscriptions), past, behind))
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(s.Subscriptions) > 0 {
			fmt.Fprintln(tw, "\nSUB\tEVENT\tPHASE\tPOSITION\tBEHIND\tPENDING\tVIA\tOWNER\tTOPICS")
			for _, sub := range s.Subscriptions {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", sub.ID, sub.Event, sub.Phase, sub.Position, sub.Behind, sub.Pending,
					orDash(sub.Via), orDash(sub.Owner), strings.Join(sub.Topics, " "))
			}
		}
		if s.Truncated {
			fmt.Fprintf(tw, "(only the first %d subscriptions are shown)\n", maxTracePages*1000)
		}
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
