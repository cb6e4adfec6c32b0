package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
)

func checkCommand() *command {
	return &command{
		name:    "check",
		summary: "find stored events that typed subscriptions cannot serve as --schema declares",
		details: `Reads the stored events whose topic and type match a declaration of --schema
(by default all of them; --topic, --type, --after and --since narrow it) and lists
those the API would serve with an EVENT_SHAPE_MISMATCH error: a non-null field
missing or null, or a value of another type. Fields the schema no longer declares
are fine. Run it against a changed schema before deploying it: it exits 1 when
an event does not match, and only then. A declared type or topic with no stored
events yet (an additive change) is reported on stderr and passes.`,
		example: `  replayctl check --schema examples/schema/orders.graphqls
  replayctl check --schema ./types/ --topic 'orders.*' --since 30d --max 10`,
		run: runCheck,
	}
}

func runCheck(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet(a.cmd)
	var sel selection
	sel.register(fs, "; default: every declared topic", false)
	maxShown := fs.Int("max", 100, "list at most this many mismatches (all are counted)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %v", fs.Args())
	}
	events, err := a.events()
	if err != nil {
		return err
	}
	if events == nil {
		return usagef("check needs --schema (or SCHEMA): the declarations to check stored events against")
	}
	declared := len(sel.topics) == 0
	if declared {
		sel.topics = declaredTopics(events)
	}
	if err := sel.check(time.Now()); err != nil {
		return err
	}
	if !declared {
		if err := checkCovered(events, sel.topics); err != nil {
			return err
		}
	}
	store, err := a.open(ctx, mustExist)
	if err != nil {
		return err
	}
	scope := sel.topics
	// A topic with nothing stored yet holds no mismatch: a schema that
	// declares a new topic or type must pass the check before its deploy.
	if sel.topics, err = storedTopics(ctx, store, sel.topics); err != nil {
		return err
	}
	checked := map[*eventschema.Event]int64{}
	var bad int64
	q, ok := eventstore.Query{}, false
	if len(sel.topics) > 0 {
		if q, ok, err = sel.query(ctx, a, store); err != nil {
			return err
		}
	}
	if ok {
		for ev, err := range store.Read(ctx, q) {
			if err != nil {
				return err
			}
			decl := events.Match(ev.Topic, ev.Type)
			if decl == nil {
				continue
			}
			checked[decl]++
			if err := decl.CheckStored(ev.Data); err != nil {
				bad++
				if bad <= int64(*maxShown) {
					fmt.Fprintf(a.stdout, "%s %s %s: %v\n", ev.ID, ev.Topic, ev.Type, err)
				}
			}
		}
	}
	none := "no stored events yet"
	if sel.after != "" || sel.since != "" || sel.until != "" || sel.last != 0 {
		none = "no stored events in the range"
	}
	var total int64
	for _, e := range events.Events {
		total += checked[e]
		if checked[e] == 0 && inScope(e, scope, sel.types) {
			fmt.Fprintf(a.stderr, "check: %s (type %s on %s): %s\n", e.Name, e.Type, strings.Join(e.Topics, ", "), none)
		}
	}
	fmt.Fprintf(a.stderr, "check: %s of declared types, %s served with EVENT_SHAPE_MISMATCH\n", countOf(total, "event"), formatCount(bad))
	if bad > 0 {
		return errMismatch
	}
	return nil
}

// errMismatch: check found events that do not match (exit 1).
var errMismatch = fmt.Errorf("stored events do not match their declared types")

// declaredTopics is every topic pattern of the declarations, each once.
func declaredTopics(s *eventschema.Schema) listFlag {
	var out listFlag
	for _, e := range s.Events {
		for _, t := range e.Topics {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// checkCovered refuses a --topic that no declaration's topics overlap:
// check could find nothing to check there, so it is most likely a typo.
func checkCovered(s *eventschema.Schema, topics []string) error {
	for _, t := range topics {
		if !slices.ContainsFunc(s.Events, func(e *eventschema.Event) bool { return overlapsAny(e.Topics, t) }) {
			return usagef("--topic %s: --schema declares no type on it (its topics: %s)", t, strings.Join(declaredTopics(s), ", "))
		}
	}
	return nil
}

// storedTopics keeps the patterns that match a topic with stored events.
func storedTopics(ctx context.Context, store *eventstore.Store, topics []string) (listFlag, error) {
	var out listFlag
	for _, t := range topics {
		n, err := store.CountTopics(ctx, t)
		if err != nil {
			return nil, err
		}
		if len(n) > 0 {
			out = append(out, t)
		}
	}
	return out, nil
}

// inScope reports whether a selection of topics and types (none: every
// type) takes in declaration e.
func inScope(e *eventschema.Event, topics, types []string) bool {
	if len(types) > 0 && !slices.Contains(types, e.Type) {
		return false
	}
	return slices.ContainsFunc(topics, func(t string) bool { return overlapsAny(e.Topics, t) })
}

func overlapsAny(patterns []string, topic string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return eventstore.Overlap(p, topic) })
}
