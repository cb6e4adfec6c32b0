package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rewind-dev/rewind/client"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/replay"
)

func topicsCommand() *command {
	return &command{
		name:    "topics",
		summary: "list every topic with its event count, first and last id and time, and data bytes",
		details: `Bytes are the size of the events' data, summed by one headers-only pass over the
stream (about 150,000 events/s); --bytes=false skips that pass on large streams.`,
		example: "  replayctl topics\n  replayctl --nats-url nats://127.0.0.1:4222 topics --json | jq -r .name",
		run:     runTopics,
	}
}

// topicLine is one topic in topics --json.
type topicLine struct {
	Name      string  `json:"name"`
	Events    uint64  `json:"events"`
	Bytes     *uint64 `json:"bytes,omitempty"`
	FirstID   string  `json:"firstId"`
	FirstTime string  `json:"firstTime"`
	LastID    string  `json:"lastId"`
	LastTime  string  `json:"lastTime"`
}

func runTopics(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet(a.cmd)
	var out outputFlags
	out.register(fs)
	withBytes := fs.Bool("bytes", true, "sum each topic's data bytes (reads every event's headers)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %v", fs.Args())
	}
	table, err := out.useTable(a.stdout)
	if err != nil {
		return err
	}
	store, err := a.open(ctx, mustExist)
	if err != nil {
		return err
	}
	topics, _, err := store.Topics(ctx, []string{">"}, eventstore.TopicPage{})
	if err != nil {
		return err
	}
	var sizes map[string]uint64
	if *withBytes && len(topics) > 0 {
		sizes = map[string]uint64{}
		st, err := store.State(ctx)
		if err != nil {
			return err
		}
		p := a.progress("summing bytes", int64(st.Events))
		for h, err := range store.Headers(ctx, eventstore.Query{}) {
			if err != nil {
				p.done()
				return err
			}
			sizes[h.Topic] += uint64(h.Size)
			p.add(1)
		}
		p.done()
	}
	lines := make([]topicLine, len(topics))
	for i, t := range topics {
		lines[i] = topicLine{
			Name: t.Name, Events: t.Events,
			FirstID: t.FirstID.String(), FirstTime: idTime(t.FirstID),
			LastID: t.LastID.String(), LastTime: idTime(t.LastID),
		}
		if sizes != nil {
			n := sizes[t.Name]
			lines[i].Bytes = &n
		}
	}
	if !table {
		for _, l := range lines {
			if err := writeJSON(a.stdout, l); err != nil {
				return err
			}
		}
		return nil
	}
	if len(lines) == 0 {
		fmt.Fprintf(a.stderr, "no topics in %s\n", a.conn.where())
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tEVENTS\tBYTES\tFIRST ID\tFIRST TIME\tLAST ID\tLAST TIME")
	for _, l := range lines {
		size := "-"
		if l.Bytes != nil {
			size = formatBytes(*l.Bytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Name, formatCount(l.Events), size, l.FirstID, l.FirstTime, l.LastID, l.LastTime)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func idTime(id ulid.ULID) string {
	if id == (ulid.ULID{}) {
		return ""
	}
	return ulid.Time(id.Time()).UTC().Format(timeFormat)
}

func eventsCommand() *command {
	return &command{
		name:    "events",
		summary: "print stored events, oldest first",
		details: `Without --topic, every topic. --after/--since choose the start, --until the end
(inclusive); --since and a time given to --until go by the time events were stored.`,
		example: `  replayctl events --topic orders.eu --limit 20
  replayctl events --topic 'orders.*' --type created --since 2h --json > recent.ndjson
  replayctl events --topic orders.eu --after 01J9Z3K8V6W2Q4R5T7Y8X9M0PA --until 01J9Z3M2N4P6Q8R0S2T4V6W8XY`,
		run: runEvents,
	}
}

func runEvents(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet(a.cmd)
	var sel selection
	var out outputFlags
	sel.register(fs, "; default: every topic", true)
	fs.BoolVar(&sel.latest, "latest", false, latestUsage)
	var where whereFlag
	fs.Var(&where, "where", whereUsage)
	out.register(fs)
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %v", fs.Args())
	}
	table, err := out.useTable(a.stdout)
	if err != nil {
		return err
	}
	if err := sel.check(time.Now()); err != nil {
		return err
	}
	store, q, ok, err := sel.open(ctx, a)
	if err != nil || !ok {
		return err
	}
	p := newEventPrinter(a.stdout, table)
	read := store.Read
	if sel.start.Latest {
		read = store.ReadLatest
	}
	limit := q.Limit
	if where.filter != nil {
		q.Limit = 0 // the limit counts events printed, which the filter chooses
	}
	n := 0
	for ev, err := range read(ctx, q) {
		if err != nil {
			p.flush()
			return err
		}
		if !where.filter.MatchData(ev.Data) {
			continue // with --latest: the topic's newest fails the filter, so the topic is left out
		}
		if err := p.print(&ev); err != nil {
			return err
		}
		n++
		if n == limit {
			break // ReadLatest does not count: the limit is applied here
		}
	}
	if table && n == 0 {
		fmt.Fprintln(a.stderr, "no events")
	}
	return p.flush()
}

func tailCommand() *command {
	return &command{
		name:    "tail",
		summary: "follow topics live, after replaying what is stored after --after",
		details: `Exactly a subscription's semantics: with --after, every stored event after that id,
then live ones, each once and in order; without it, only events stored from now on.
Ctrl-C stops it and prints the last id seen, to resume with --after.

With --server, it follows through a running Rewind server's GraphQL API instead of
JetStream (no NATS access needed) and rides out restarts and network failures: it
reconnects with backoff and resumes after the last event printed, each event once.
--server-token (or REWIND_TOKEN) is sent as a bearer token when authentication is on.`,
		example: "  replayctl tail --topic 'orders.>'\n  replayctl tail --topic orders.eu --after 01J9Z3K8V6W2Q4R5T7Y8X9M0PA --json | jq .data\n  replayctl tail --server http://localhost:8080/graphql --topic 'orders.>' --after 00000000000000000000000000",
		run:     runTail,
	}
}

func runTail(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet(a.cmd)
	var topics, types listFlag
	var out outputFlags
	fs.Var(&topics, "topic", "`topic` or pattern to follow (required); repeat or comma-separate for several")
	fs.Var(&types, "type", "keep only events of this `type`; repeat or comma-separate for several")
	after := fs.String("after", "", "replay stored events after this `id` first (00000000000000000000000000: all of them)")
	since := fs.String("since", "", "replay stored events from this `time` first (RFC 3339, a date, or a duration ago such as 2h)")
	lastN := fs.Int("last", 0, "replay the last `n` matching stored events first")
	latest := fs.Bool("latest", false, latestUsage)
	var where whereFlag
	fs.Var(&where, "where", whereUsage)
	limit := fs.Int("limit", 0, "stop after this many `events` (0: until interrupted)")
	server := fs.String("server", "", "follow through this Rewind server's GraphQL `URL` (e.g. http://localhost:8080/graphql) instead of JetStream, resuming across disconnects")
	serverToken := fs.String("server-token", "", "bearer `token` for --server (default: $REWIND_TOKEN)")
	out.register(fs)
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %v", fs.Args())
	}
	if len(topics) == 0 {
		return usagef("--topic is required (use '>' for every topic)")
	}
	for _, t := range topics {
		if err := eventstore.ValidatePattern(t); err != nil {
			return usagef("--topic: %v", err)
		}
	}
	table, err := out.useTable(a.stdout)
	if err != nil {
		return err
	}
	start, err := parseStart(*after, *since, *lastN, *latest, time.Now())
	if err != nil {
		return err
	}
	if *server != "" {
		if *since != "" || *lastN != 0 || *latest {
			return usagef("--since, --last and --latest read JetStream: use them without --server, or --after with it")
		}
		return tailServer(ctx, a, fs, *server, *serverToken, client.Request{Topics: topics, Types: types, After: *after, Where: where.raw()}, *limit, table)
	}
	store, err := a.open(ctx, mustExist)
	if err != nil {
		return err
	}
	req := replay.Request{Topics: topics, Types: types, Latest: start.Latest, Filter: where.filter}
	var live bool
	if !start.Latest {
		if req.After, live, err = startAfter(ctx, a, store, eventstore.Query{Topics: topics, Types: types}, start); err != nil {
			return err
		}
	}
	if live {
		// Live from now: everything stored after this moment, including
		// what arrives before the hub has registered the subscription.
		st, err := store.State(ctx)
		if err != nil {
			return err
		}
		req.After = st.LastSeq
	}
	for _, t := range topics {
		if n, err := store.CountTopics(ctx, t); err == nil && len(n) == 0 {
			fmt.Fprintf(a.stderr, "note: nothing is stored on %q yet; waiting for its first event\n", t)
		}
	}

	// The hub lives as long as this command; a reader that cannot keep up
	// (stdout piped to a paused pager) falls back to storage reads rather
	// than being cut off.
	hubCtx, stopHub := context.WithCancel(ctx)
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	hub := replay.NewHub(store, replay.Config{StallTimeout: 365 * 24 * time.Hour}, log)
	hubDone := make(chan struct{})
	go func() {
		defer close(hubDone)
		hub.Run(hubCtx)
	}()
	defer func() {
		stopHub()
		<-hubDone
	}()
	sub, err := hub.Subscribe(hubCtx, req)
	if err != nil {
		return err
	}
	if req.Latest {
		fmt.Fprintf(a.stderr, "following %s from the newest event of each topic; Ctrl-C stops\n", strings.Join(topics, ", "))
	} else {
		fmt.Fprintf(a.stderr, "following %s after sequence %d; Ctrl-C stops\n", strings.Join(topics, ", "), req.After)
	}

	p := newEventPrinter(a.stdout, table)
	var last ulid.ULID
	n := 0
	for ev := range sub.C {
		if err := p.print(ev); err != nil {
			return err
		}
		if err := p.flush(); err != nil {
			return err
		}
		last = ev.ID
		n++
		if *limit > 0 && n == *limit {
			stopHub()
			for range sub.C {
			}
			break
		}
	}
	err = sub.Err()
	resume := *after
	if last != (ulid.ULID{}) {
		resume = last.String()
	}
	printStopped(a, n, resume, a.resumeCommand(fs, "--after", resume))
	switch {
	case ctx.Err() != nil:
		return ctx.Err() // interrupted: exit code 130
	case err != nil:
		return fmt.Errorf("tail: %w", err)
	}
	return nil
}

// printStopped says where a stopped tail got to and how to go on.
func printStopped(a *app, n int, last, resume string) {
	if last == "" {
		fmt.Fprintf(a.stderr, "stopped; no events received\n")
		return
	}
	fmt.Fprintf(a.stderr, "stopped after %s; last id %s\nresume with: %s\n", countOf(n, "event"), last, resume)
}

func statsCommand() *command {
	return &command{
		name:    "stats",
		summary: "show the stream's state, storage, retention settings and consumers",
		example: "  replayctl stats\n  replayctl stats --json | jq .consumers",
		run:     runStats,
	}
}

// statsJSON is stats --json.
type statsJSON struct {
	Stream      string         `json:"stream"`
	Subjects    []string       `json:"subjects"`
	Storage     string         `json:"storage"`
	Replicas    int            `json:"replicas"`
	Retention   string         `json:"retention"`
	Discard     string         `json:"discard"`
	MaxAge      string         `json:"maxAge"`
	MaxEvents   int64          `json:"maxEvents"`
	MaxPerTopic int64          `json:"maxPerTopic"` // 0: unlimited
	MaxBytes    int64          `json:"maxBytes"`
	MaxMsgSize  int32          `json:"maxMessageSize"`
	Duplicates  string         `json:"duplicateWindow"`
	Created     string         `json:"created"`
	Events      uint64         `json:"events"`
	Bytes       uint64         `json:"bytes"`
	Topics      int            `json:"topics"`
	FirstSeq    uint64         `json:"firstSeq"`
	FirstTime   string         `json:"firstTime"`
	LastSeq     uint64         `json:"lastSeq"`
	LastTime    string         `json:"lastTime"`
	Deleted     int            `json:"deleted"`
	Leader      string         `json:"leader,omitempty"`
	Consumers   []consumerJSON `json:"consumers"`
}

type consumerJSON struct {
	Name       string   `json:"name"`
	Durable    bool     `json:"durable"`
	Filters    []string `json:"filters"`
	Created    string   `json:"created"`
	Delivered  uint64   `json:"deliveredSeq"`
	Pending    uint64   `json:"pending"`
	AckPending int      `json:"ackPending"`
	LastActive string   `json:"lastActive,omitempty"`
}

func runStats(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet(a.cmd)
	var out outputFlags
	out.register(fs)
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %v", fs.Args())
	}
	table, err := out.useTable(a.stdout)
	if err != nil {
		return err
	}
	store, err := a.open(ctx, mustExist)
	if err != nil {
		return err
	}
	s, err := store.Stats(ctx)
	if err != nil {
		return err
	}
	j := statsJSON{
		Stream: s.Stream, Subjects: s.Subjects, Storage: s.Storage, Replicas: s.Replicas,
		Retention: s.Retention, Discard: s.Discard, MaxAge: s.MaxAge.String(), MaxEvents: s.MaxMsgs, MaxPerTopic: s.MaxPerTopic,
		MaxBytes: s.MaxBytes, MaxMsgSize: s.MaxMsgSize, Duplicates: s.Duplicates.String(),
		Created: formatTime(s.Created), Events: s.Events, Bytes: s.Bytes, Topics: s.Topics,
		FirstSeq: s.FirstSeq, FirstTime: formatTime(s.FirstTime), LastSeq: s.LastSeq,
		LastTime: formatTime(s.LastTime), Deleted: s.Deleted, Leader: s.Leader,
		Consumers: []consumerJSON{},
	}
	for _, c := range s.Consumers {
		cj := consumerJSON{
			Name: c.Name, Durable: c.Durable, Filters: c.Filters, Created: formatTime(c.Created),
			Delivered: c.Delivered, Pending: c.Pending, AckPending: c.AckPending,
		}
		if !c.LastActive.IsZero() {
			cj.LastActive = formatTime(c.LastActive)
		}
		j.Consumers = append(j.Consumers, cj)
	}
	if !table {
		return writeJSON(a.stdout, j)
	}
	return printStats(a.stdout, s)
}

func printStats(w io.Writer, s eventstore.Stats) error {
	unlimited := func(v string, zero bool) string {
		if zero {
			return "unlimited"
		}
		return v
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("Stream", fmt.Sprintf("%s (subjects %s, created %s)", s.Stream, strings.Join(s.Subjects, " "), formatTime(s.Created)))
	if s.Leader != "" {
		row("Leader", s.Leader)
	}
	row("Storage", fmt.Sprintf("%s, %d replica(s)", s.Storage, s.Replicas))
	row("Events", fmt.Sprintf("%s in %s topics, %s", formatCount(s.Events), formatCount(s.Topics), formatBytes(s.Bytes)))
	row("First", fmt.Sprintf("seq %d, stored %s", s.FirstSeq, formatTime(s.FirstTime)))
	row("Last", fmt.Sprintf("seq %d, stored %s", s.LastSeq, formatTime(s.LastTime)))
	if s.Deleted > 0 {
		row("Deleted", formatCount(s.Deleted))
	}
	row("Retention", fmt.Sprintf("%s, discard %s; max age %s, max events %s, max bytes %s, max per topic %s",
		s.Retention, s.Discard,
		unlimited(s.MaxAge.String(), s.MaxAge == 0),
		unlimited(formatCount(s.MaxMsgs), s.MaxMsgs == 0),
		unlimited(formatBytes(s.MaxBytes), s.MaxBytes == 0),
		unlimited(formatCount(s.MaxPerTopic), s.MaxPerTopic == 0)))
	row("Max event", unlimited(formatBytes(s.MaxMsgSize)+" (data and headers)", s.MaxMsgSize == 0))
	row("Dedup window", s.Duplicates.String())
	row("Consumers", fmt.Sprint(len(s.Consumers)))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if len(s.Consumers) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONSUMER\tKIND\tFILTER\tDELIVERED\tPENDING\tACK PENDING\tLAST ACTIVE")
	for _, c := range s.Consumers {
		kind := "ephemeral"
		if c.Durable {
			kind = "durable"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%s\n", c.Name, kind, strings.Join(c.Filters, ","),
			c.Delivered, formatCount(c.Pending), c.AckPending, formatTime(c.LastActive))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
