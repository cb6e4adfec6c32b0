package main

import (
	"context"
	"fmt"
	"time"

	"github.com/rewind-dev/rewind/eventschema"
)

func checkCommand() *command {
	return &command{
		name:    "check",
		summary: "find stored events that typed subscriptions cannot serve as --schema declares",
		details: `Reads the stored events whose topic and type match a declaration of --schema
(by default all of them; --topic, --type, --after and --since narrow it) and lists
those the API would serve with an EVENT_SHAPE_MISMATCH error: a non-null field
missing or null, or a value of another type. Fields the schema no longer declares
are fine. Run it against a changed schema before deploying it; exit 1 when any
event does not match.`,
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
	if len(sel.topics) == 0 {
		sel.topics = declaredTopics(events)
	}
	if err := sel.check(time.Now()); err != nil {
		return err
	}
	store, q, ok, err := sel.open(ctx, a)
	if err != nil || !ok {
		return err
	}
	var checked, bad int64
	for ev, err := range store.Read(ctx, q) {
		if err != nil {
			return err
		}
		decl := events.Match(ev.Topic, ev.Type)
		if decl == nil {
			continue
		}
		checked++
		if err := decl.CheckStored(ev.Data); err != nil {
			bad++
			if bad <= int64(*maxShown) {
				fmt.Fprintf(a.stdout, "%s %s %s: %v\n", ev.ID, ev.Topic, ev.Type, err)
			}
		}
	}
	fmt.Fprintf(a.stderr, "check: %s of declared types, %s served with EVENT_SHAPE_MISMATCH\n", countOf(checked, "event"), formatCount(bad))
	if bad > 0 {
		return errMismatch
	}
	return nil
}

// errMismatch: check found events that do not match (exit 1).
var errMismatch = fmt.Errorf("stored events do not match their declared types")

// declaredTopics is every topic pattern of the declarations (the store
// reads patterns that others cover once).
func declaredTopics(s *eventschema.Schema) listFlag {
	var out listFlag
	for _, e := range s.Events {
		out = append(out, e.Topics...)
	}
	return out
}
