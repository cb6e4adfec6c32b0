package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rewind-dev/rewind/eventstore"
)

func exportCommand() *command {
	return &command{
		name:    "export",
		summary: "write events as NDJSON, with their ids, for backup or migration",
		details: `One line per event: {"id","seq","topic","type","data","time"}, in stream order.
'replayctl import' reads the same format and keeps the ids.`,
		example: "  replayctl export > rewind-backup.ndjson\n  replayctl export --topic 'orders.>' --since 2026-05-01 | gzip > orders-may.ndjson.gz",
		run:     runExport,
	}
}

func runExport(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet(a.cmd)
	var sel selection
	sel.register(fs, "; default: every topic", true)
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %v (export writes to stdout: replayctl export > FILE)", fs.Args())
	}
	if err := sel.check(time.Now()); err != nil {
		return err
	}
	store, q, ok, err := sel.open(ctx, a)
	if err != nil || !ok {
		return err
	}
	var total int64
	if len(q.Topics) == 0 && len(q.Types) == 0 {
		st, err := store.State(ctx)
		if err != nil {
			return err
		}
		total = int64(st.Events) // an estimate: the range may be shorter
		if q.Limit > 0 {
			total = min(total, int64(q.Limit))
		}
	}
	p := a.progress("export", total)
	defer p.done()
	out := newEventPrinter(a.stdout, false)
	var n int64
	for ev, err := range store.Read(ctx, q) {
		if err != nil {
			out.flush()
			return err
		}
		if err := out.print(&ev); err != nil {
			return err
		}
		n++
		p.add(1)
	}
	if err := out.flush(); err != nil {
		return err
	}
	p.done()
	if isTerminal(a.stderr) {
		fmt.Fprintf(a.stderr, "exported %s\n", countOf(n, "event"))
	}
	return nil
}

func importCommand() *command {
	return &command{
		name:    "import",
		args:    "[FILE]",
		summary: "append events from NDJSON (an export), keeping their ids; a rerun appends nothing twice",
		details: `Reads FILE, or stdin without one. Each line needs "id", "topic", "type" and "data";
"seq" and "time" are ignored. Events whose id is already stored are skipped (the ids
in the stream are read once, headers only, before the import), so importing the same
file twice, or again after an interrupted import, appends each event once. Events are
appended in file order. Creates the stream if it does not exist. Asks for --yes on a terminal.`,
		example: "  replayctl --nats-url nats://new-server:4222 import --yes rewind-backup.ndjson\n  gunzip -c orders-may.ndjson.gz | replayctl import --dry-run",
		run:     runImport,
	}
}

// importBatch is how many events go to JetStream in one pipelined batch.
const importBatch = 1000

func runImport(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet(a.cmd)
	dryRun := fs.Bool("dry-run", false, "check the file and count what would be appended; append nothing")
	yes := fs.Bool("yes", false, "confirm appending when run on a terminal")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usagef("import takes at most one file, got %v", fs.Args())
	}
	in, name := a.stdin, "stdin"
	if fs.NArg() == 1 {
		name = fs.Arg(0)
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		in = f
	} else if isTerminal(a.stdin) {
		return usagef("import reads NDJSON from a file or stdin: replayctl import FILE, or replayctl import < FILE")
	}
	if !*dryRun && !*yes && a.interactive() {
		return usagef("import appends events to %s; add --yes to go ahead, or --dry-run to check the file first", a.conn.where())
	}

	mode := mayCreate
	if *dryRun {
		mode = mustExist
	}
	store, err := a.open(ctx, mode)
	// A dry run changes nothing, so it does not create the stream, or
	// JetStream's folder, that the import would: nothing is stored yet.
	if err != nil && !(*dryRun && (errors.Is(err, errNoStream) || errors.Is(err, errNoData))) {
		return err
	}
	im := &importer{a: a, store: store, dryRun: *dryRun, known: map[ulid.ULID]struct{}{}, maxPayload: 1 << 20}
	if store == nil {
		if im.check, err = a.check(); err != nil {
			return err
		}
	} else {
		im.check = func(ev eventstore.Event) error { return store.Validate(ev) }
		im.maxPayload = store.Config().MaxPayload
		if err := im.loadKnown(ctx); err != nil {
			return err
		}
	}
	err = im.run(ctx, in, name)
	verb := "imported"
	if *dryRun {
		verb = "would import"
	}
	fmt.Fprintf(a.stderr, "import: %s %s, skipped %s already stored (%s)\n",
		verb, countOf(im.appended, "event"), formatCount(im.skipped), countOf(im.line, "line"))
	if err != nil && !*dryRun {
		fmt.Fprintln(a.stderr, "the events before the failure are stored; rerunning the import skips them")
	}
	return err
}

type importer struct {
	a          *app
	store      *eventstore.Store            // nil in a dry run on a missing stream
	check      func(eventstore.Event) error // what the store checks besides parse; nil: nothing
	dryRun     bool
	maxPayload int

	known             map[ulid.ULID]struct{} // ids stored, or appended by this run
	line              int64
	appended, skipped int64
	batch             []eventstore.Event
}

// loadKnown reads the ids already stored, once, headers only: looking each
// imported id up instead would cost a full scan per id, since imported
// events are stored far from their ids' time.
func (im *importer) loadKnown(ctx context.Context) error {
	st, err := im.store.State(ctx)
	if err != nil {
		return err
	}
	if st.Events == 0 {
		return nil
	}
	p := im.a.progress("reading stored ids", int64(st.Events))
	defer p.done()
	for h, err := range im.store.Headers(ctx, eventstore.Query{}) {
		if err != nil {
			return fmt.Errorf("read stored ids: %w", err)
		}
		im.known[h.ID] = struct{}{}
		p.add(1)
	}
	return nil
}

func (im *importer) run(ctx context.Context, in io.Reader, name string) error {
	// A line holds one event: its data plus a little for the other fields.
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 1<<20), im.maxPayload+64<<10)
	p := im.a.progress("import", 0)
	defer p.done()
	for sc.Scan() {
		im.line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		p.add(1)
		// Lines as export writes them start with the id: skip the ones
		// already stored without decoding them, which makes a rerun of a
		// large import cheap.
		if id, ok := leadingID(text); ok {
			if _, ok := im.known[id]; ok {
				im.skipped++
				continue
			}
		}
		ev, err := im.parse(text)
		if err != nil {
			// Store what came before, as the summary says.
			if ferr := im.flush(ctx); ferr != nil {
				return ferr
			}
			return fmt.Errorf("%s line %d: %w", name, im.line, err)
		}
		if _, ok := im.known[ev.ID]; ok {
			im.skipped++
			continue
		}
		im.known[ev.ID] = struct{}{}
		im.batch = append(im.batch, ev)
		if len(im.batch) == importBatch {
			if err := im.flush(ctx); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return fmt.Errorf("%s line %d: longer than an event can be (data at most %d bytes)", name, im.line+1, im.maxPayload)
		}
		return fmt.Errorf("read %s: %w", name, err)
	}
	return im.flush(ctx)
}

// leadingID returns the id of a line that starts {"id":"<ULID>".
func leadingID(line []byte) (ulid.ULID, bool) {
	const prefix = `{"id":"`
	end := len(prefix) + ulid.EncodedSize
	if len(line) <= end || !bytes.HasPrefix(line, []byte(prefix)) || line[end] != '"' {
		return ulid.ULID{}, false
	}
	id, err := ulid.ParseStrict(string(line[len(prefix):end]))
	return id, err == nil
}

func (im *importer) parse(text []byte) (eventstore.Event, error) {
	var l eventLine
	if err := json.Unmarshal(text, &l); err != nil {
		return eventstore.Event{}, fmt.Errorf("not a JSON event: %w", err)
	}
	if l.ID == "" {
		return eventstore.Event{}, fmt.Errorf(`no "id" (import keeps ids, so that a rerun appends nothing twice)`)
	}
	id, err := eventstore.ParseID(l.ID)
	if err != nil {
		return eventstore.Event{}, err
	}
	if id == (ulid.ULID{}) {
		return eventstore.Event{}, fmt.Errorf("the zero id cannot be an event's")
	}
	if err := eventstore.ValidateTopic(l.Topic); err != nil {
		return eventstore.Event{}, fmt.Errorf("topic: %w", err)
	}
	if err := eventstore.ValidateType(l.Type); err != nil {
		return eventstore.Event{}, fmt.Errorf("type: %w", err)
	}
	if len(l.Data) == 0 {
		return eventstore.Event{}, fmt.Errorf(`no "data"`)
	}
	if len(l.Data) > im.maxPayload {
		return eventstore.Event{}, fmt.Errorf("data is %d bytes, the stream's limit is %d", len(l.Data), im.maxPayload)
	}
	ev := eventstore.Event{ID: id, Topic: l.Topic, Type: l.Type, Data: l.Data}
	// What the store checks besides (declared event types, with --schema),
	// line by line, so that a dry run finds it too.
	if im.check != nil {
		if err := im.check(ev); err != nil {
			return eventstore.Event{}, err
		}
	}
	return ev, nil
}

func (im *importer) flush(ctx context.Context) error {
	if len(im.batch) == 0 {
		return nil
	}
	if !im.dryRun {
		// AppendBatch also deduplicates by id within the stream's
		// duplicate window, which covers two imports running at once.
		if _, err := im.store.AppendBatch(ctx, im.batch); err != nil {
			return fmt.Errorf("append events ending at line %d: %w", im.line, err)
		}
	}
	im.appended += int64(len(im.batch))
	im.batch = im.batch[:0]
	return nil
}
