package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"golang.org/x/time/rate"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/flagvalue"
)

func replayCommand() *command {
	return &command{
		name:    "replay",
		summary: "re-deliver a range of events to stdout, a webhook or another topic",
		details: `--to is one of:
  stdout              print the events (a table on a terminal, NDJSON otherwise)
  http(s)://...       POST each event, in order, as JSON ({"id","seq","topic","type","data","time"},
                      with headers Rewind-Event-Id and Idempotency-Key set to its id). 2xx is
                      success; network errors, 408, 425, 429 and 5xx are retried with exponential
                      backoff (--retries, --backoff; Retry-After is honoured); any other answer,
                      or running out of retries, stops the replay and prints the --after to resume with.
  topic:NAME          append each event to topic NAME as a new event of the same type whose data
                      is {"replayOf":{"id","topic","time"},"data":<the original data>}. Events
                      already replayed there (found by replayOf.id) are skipped, so running the
                      same range again appends nothing twice. Asks for --yes on a terminal.

The range is --after ID (or --since TIME) up to --until (default: the end of the stream
when the replay starts). --dry-run counts what would be delivered and delivers nothing.`,
		example: `  replayctl replay --topic orders.eu --after 01J9Z3K8V6W2Q4R5T7Y8X9M0PA --to https://hooks.example.com/orders --rate 50/s
  replayctl replay --topic 'orders.*' --since 2026-05-01 --until 2026-05-02 --to topic:orders.reprocess --yes`,
		run: runReplay,
	}
}

type replayFlags struct {
	sel     selection
	out     outputFlags
	to      string
	rate    string
	dryRun  bool
	yes     bool
	retries int
	backoff time.Duration
	timeout time.Duration
	headers listFlag

	shown string // --to as printed: a URL without its password
}

func runReplay(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet(a.cmd)
	var f replayFlags
	f.sel.register(fs, " (required)", false)
	f.out.register(fs)
	fs.StringVar(&f.to, "to", "", "`target`: stdout, an http(s):// URL, or topic:NAME (required)")
	fs.StringVar(&f.rate, "rate", "", "deliver at most this many events per second (`N`, N/s or N/m); default: as fast as the target takes them")
	fs.BoolVar(&f.dryRun, "dry-run", false, "count what would be delivered; deliver nothing")
	fs.BoolVar(&f.yes, "yes", false, "confirm appending to a topic when run on a terminal")
	fs.IntVar(&f.retries, "retries", 8, "webhook: retries of one event before stopping")
	f.backoff, f.timeout = 500*time.Millisecond, 10*time.Second
	fs.Var(flagvalue.NewDuration(&f.backoff), "backoff", "webhook: wait before the first retry, doubled for each next one (at most 30s)")
	fs.Var(flagvalue.NewDuration(&f.timeout), "timeout", "webhook: time limit of one request")
	fs.Var(&f.headers, "header", "webhook: extra request `header` as 'Name: value' (e.g. Authorization); repeatable")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %v", fs.Args())
	}
	if len(f.sel.topics) == 0 {
		return usagef("--topic is required")
	}
	if f.sel.after == "" && f.sel.since == "" {
		return usagef("--after or --since is required (--after 00000000000000000000000000 replays from the beginning)")
	}
	if err := f.sel.check(time.Now()); err != nil {
		return err
	}
	limiter, err := parseRate(f.rate)
	if err != nil {
		return err
	}
	if f.retries < 0 || f.backoff < 0 || f.timeout <= 0 {
		return usagef("--retries and --backoff cannot be negative, --timeout must be positive")
	}
	dest, err := f.target(a)
	if err != nil {
		return err
	}
	if _, ok := dest.(*topicTarget); ok && !f.dryRun && !f.yes && a.interactive() {
		return usagef("replay --to %s appends events; add --yes to go ahead, or --dry-run to see what it would do", f.to)
	}

	store, q, ok, err := f.sel.open(ctx, a)
	if err != nil {
		return err
	}
	if !ok {
		fmt.Fprintln(a.stderr, "replay: the range is empty; nothing to do")
		return nil
	}
	if err := dest.prepare(ctx, store, q); err != nil {
		return err
	}

	var total int64 // for progress, shown on a terminal only
	if isTerminal(a.stderr) {
		if total, err = countRange(ctx, store, q); err != nil {
			return err
		}
	}
	r := &replayRun{a: a, f: &f, dest: dest, limiter: limiter}
	err = r.run(ctx, store, q, total)
	if err == nil {
		return nil
	}
	// Say where to pick up: after the last event the target took, or
	// where this run started when it took none.
	var resume string
	switch {
	case r.last != (ulid.ULID{}):
		resume = a.resumeCommand(fs, "--after", r.last.String())
	case f.sel.after != "":
		resume = a.resumeCommand(fs, "--after", f.sel.after)
	default:
		resume = a.resumeCommand(fs, "--since", shellQuote(f.sel.since))
	}
	hint := fmt.Sprintf("replay stopped after delivering %s; resume with: %s", countOf(r.delivered, "event"), resume)
	if ctx.Err() != nil {
		fmt.Fprintln(a.stderr, hint)
		return ctx.Err()
	}
	return fmt.Errorf("%w\n%s", err, hint)
}

// target is where replay delivers.
type target interface {
	// prepare runs once before the first delivery.
	prepare(ctx context.Context, store *eventstore.Store, q eventstore.Query) error
	// skip reports an event the target already has.
	skip(ev *eventstore.Event) bool
	deliver(ctx context.Context, ev *eventstore.Event) error
	// finish runs after the last delivery.
	finish() error
}

func (f *replayFlags) target(a *app) (target, error) {
	switch {
	case f.to == "":
		return nil, usagef("--to is required: stdout, an http(s):// URL, or topic:NAME")
	case f.to == "stdout" || f.to == "-":
		f.shown = "stdout"
		table, err := f.out.useTable(a.stdout)
		if err != nil {
			return nil, err
		}
		return &stdoutTarget{p: newEventPrinter(a.stdout, table)}, nil
	case strings.HasPrefix(f.to, "http://") || strings.HasPrefix(f.to, "https://"):
		u, err := url.Parse(f.to)
		if err != nil || u.Host == "" {
			return nil, usagef("--to: not a valid URL")
		}
		f.shown = u.Redacted()
		h := http.Header{}
		for _, kv := range f.headers {
			k, v, ok := strings.Cut(kv, ":")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, usagef("--header %q: want 'Name: value'", kv)
			}
			h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
		return &webhookTarget{
			url: u.String(), shown: f.shown, header: h, client: &http.Client{Timeout: f.timeout},
			retries: f.retries, backoff: f.backoff, stderr: a.stderr,
		}, nil
	case strings.HasPrefix(f.to, "topic:"):
		name := strings.TrimPrefix(f.to, "topic:")
		if err := eventstore.ValidateTopic(name); err != nil {
			return nil, usagef("--to %s: %v", f.to, err)
		}
		for _, p := range f.sel.topics {
			if eventstore.Match(p, name) {
				return nil, usagef("--to %s: the target is among the replayed topics (%s); choose another topic", f.to, p)
			}
		}
		f.shown = f.to
		return &topicTarget{topic: name}, nil
	default:
		return nil, usagef("--to %q: want stdout, an http(s):// URL, or topic:NAME", f.to)
	}
}

// parseRate reads N, N/s or N/m; empty means no limit.
func parseRate(s string) (*rate.Limiter, error) {
	if s == "" {
		return nil, nil
	}
	num, unit, _ := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n <= 0 {
		return nil, usagef("--rate %q: want a positive number of events per second, e.g. 100 or 100/s or 600/m", s)
	}
	switch unit {
	case "", "s":
	case "m":
		n /= 60
	default:
		return nil, usagef("--rate %q: the unit is /s or /m", s)
	}
	return rate.NewLimiter(rate.Limit(n), 1), nil
}

// countRange counts the events q selects, for progress and dry runs,
// with a headers-only read.
func countRange(ctx context.Context, store *eventstore.Store, q eventstore.Query) (int64, error) {
	var n int64
	for _, err := range store.Headers(ctx, q) {
		if err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

type replayRun struct {
	a       *app
	f       *replayFlags
	dest    target
	limiter *rate.Limiter

	delivered, skipped int64
	last               ulid.ULID // the last event the target has
}

func (r *replayRun) run(ctx context.Context, store *eventstore.Store, q eventstore.Query, total int64) error {
	p := r.a.progress("replay", total)
	defer p.done()
	for ev, err := range store.Read(ctx, q) {
		if err != nil {
			return err
		}
		p.add(1)
		if r.dest.skip(&ev) {
			r.skipped++
			r.last = ev.ID
			continue
		}
		if r.f.dryRun {
			r.delivered++
			continue
		}
		if r.limiter != nil {
			if err := r.limiter.Wait(ctx); err != nil {
				return ctx.Err()
			}
		}
		if err := r.dest.deliver(ctx, &ev); err != nil {
			return fmt.Errorf("event %s (seq %d): %w", ev.ID, ev.Seq, err)
		}
		r.delivered++
		r.last = ev.ID
	}
	if err := r.dest.finish(); err != nil {
		return err
	}
	p.done()
	verb := "delivered"
	if r.f.dryRun {
		verb = "would deliver"
	}
	msg := fmt.Sprintf("replay: %s %s to %s", verb, countOf(r.delivered, "event"), r.f.shown)
	if r.skipped > 0 {
		msg += fmt.Sprintf(", skipped %s already there", formatCount(r.skipped))
	}
	if r.last != (ulid.ULID{}) {
		msg += "; last id " + r.last.String()
	}
	fmt.Fprintln(r.a.stderr, msg)
	return nil
}

type stdoutTarget struct{ p *eventPrinter }

func (t *stdoutTarget) prepare(context.Context, *eventstore.Store, eventstore.Query) error {
	return nil
}
func (t *stdoutTarget) skip(*eventstore.Event) bool { return false }
func (t *stdoutTarget) deliver(_ context.Context, ev *eventstore.Event) error {
	return t.p.print(ev)
}
func (t *stdoutTarget) finish() error { return t.p.flush() }

// webhookTarget POSTs each event and waits for a 2xx before the next, so
// the receiver sees them in order.
type webhookTarget struct {
	url     string
	shown   string // url without its password
	header  http.Header
	client  *http.Client
	retries int
	backoff time.Duration
	stderr  io.Writer
}

// errPermanent: the webhook refused an event in a way retrying cannot fix.
var errPermanent = errors.New("webhook refused the event")

func (t *webhookTarget) prepare(context.Context, *eventstore.Store, eventstore.Query) error {
	return nil
}
func (t *webhookTarget) skip(*eventstore.Event) bool { return false }
func (t *webhookTarget) finish() error               { return nil }

func (t *webhookTarget) deliver(ctx context.Context, ev *eventstore.Event) error {
	body, err := json.Marshal(toLine(ev))
	if err != nil {
		return err
	}
	wait := t.backoff
	for attempt := 0; ; attempt++ {
		retryAfter, err := t.post(ctx, ev, body)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errPermanent) {
			return err
		}
		if attempt >= t.retries {
			return fmt.Errorf("gave up after %d attempts: %w", attempt+1, err)
		}
		d := max(wait, retryAfter)
		fmt.Fprintf(t.stderr, "webhook: %v; retrying in %s\n", err, d)
		if !sleep(ctx, d) {
			return ctx.Err()
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// post sends one attempt. It returns the wait the server asked for, if any.
func (t *webhookTarget) post(ctx context.Context, ev *eventstore.Event, body []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errPermanent, err)
	}
	for k, v := range t.header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Rewind-Event-Id", ev.ID.String())
	req.Header.Set("Idempotency-Key", ev.ID.String())
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, nil
	}
	err = fmt.Errorf("%s answered %s", t.shown, resp.Status)
	if s := strings.TrimSpace(string(snippet)); s != "" {
		err = fmt.Errorf("%w: %s", err, shorten(json.RawMessage(s), 200))
	}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
	default:
		if resp.StatusCode < 500 {
			return 0, fmt.Errorf("%w: %w", errPermanent, err)
		}
	}
	var retryAfter time.Duration
	if secs, convErr := strconv.Atoi(resp.Header.Get("Retry-After")); convErr == nil && secs > 0 {
		retryAfter = min(time.Duration(secs)*time.Second, 5*time.Minute)
	}
	return retryAfter, err
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// topicTarget re-appends events to another topic as new events carrying
// their provenance. Its memory of what was already replayed is the target
// topic itself, so a rerun is idempotent long after JetStream's
// deduplication window.
type topicTarget struct {
	topic string
	store *eventstore.Store
	done  map[ulid.ULID]bool // source ids already replayed to topic
}

// replayed is the data of an event replay --to topic appends.
type replayed struct {
	ReplayOf provenance      `json:"replayOf"`
	Data     json.RawMessage `json:"data"`
}

type provenance struct {
	ID    string `json:"id"`
	Topic string `json:"topic"`
	Time  string `json:"time"`
}

// prepare reads which source events the target topic already has a copy
// of. A copy is appended after its source, so only the part of the target
// topic after the range's start can hold copies of the range.
func (t *topicTarget) prepare(ctx context.Context, store *eventstore.Store, q eventstore.Query) error {
	t.store = store
	t.done = map[ulid.ULID]bool{}
	for ev, err := range store.Read(ctx, eventstore.Query{Topics: []string{t.topic}, After: q.After}) {
		if err != nil {
			return fmt.Errorf("read what %s already holds: %w", t.topic, err)
		}
		var r struct {
			ReplayOf *provenance `json:"replayOf"`
		}
		if json.Unmarshal(ev.Data, &r) != nil || r.ReplayOf == nil {
			continue
		}
		if id, err := eventstore.ParseID(r.ReplayOf.ID); err == nil {
			t.done[id] = true
		}
	}
	return nil
}

func (t *topicTarget) skip(ev *eventstore.Event) bool { return t.done[ev.ID] }
func (t *topicTarget) finish() error                  { return nil }

func (t *topicTarget) deliver(ctx context.Context, ev *eventstore.Event) error {
	data, err := json.Marshal(replayed{
		ReplayOf: provenance{ID: ev.ID.String(), Topic: ev.Topic, Time: ev.Time().Format(timeFormat)},
		Data:     ev.Data,
	})
	if err != nil {
		return err
	}
	// The key also makes two replays running at once store one copy.
	_, err = t.store.Append(ctx, eventstore.Event{Topic: t.topic, Type: ev.Type, Data: data},
		eventstore.WithIdempotencyKey("replay:"+ev.ID.String()))
	if err != nil {
		return fmt.Errorf("append to %s: %w", t.topic, err)
	}
	t.done[ev.ID] = true
	return nil
}
