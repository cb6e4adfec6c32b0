package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rewind-dev/rewind/client"
	"github.com/rewind-dev/rewind/eventstore"
)

// tailServer follows topics through a Rewind server's GraphQL API with the
// Go client, which reconnects and resumes after the last event printed by
// itself: a server restart costs a pause, never an event.
func tailServer(ctx context.Context, a *app, fs *flag.FlagSet, server, token string, req client.Request, limit int, table bool) error {
	if token == "" {
		token = os.Getenv("REWIND_TOKEN")
	}
	header := http.Header{}
	var init map[string]any
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
		init = map[string]any{"authorization": "Bearer " + token}
	}
	c, err := client.New(client.Config{
		URL: server, Header: header, InitPayload: init,
		OnRetry: func(err error, wait time.Duration) {
			fmt.Fprintf(a.stderr, "connection lost (%v); resuming in %v\n", err, wait.Round(time.Millisecond))
		},
	})
	if err != nil {
		return usagef("--server: %v", err)
	}
	from := "from now"
	if req.After != "" {
		from = "after " + req.After
	}
	fmt.Fprintf(a.stderr, "following %s on %s %s; Ctrl-C stops\n", strings.Join(req.Topics, ", "), server, from)

	p := newEventPrinter(a.stdout, table)
	last, n := "", 0
	var failed error
	for ev, err := range c.Subscribe(ctx, req) {
		if err != nil {
			failed = err
			break
		}
		id, err := eventstore.ParseID(ev.ID)
		if err != nil {
			failed = fmt.Errorf("the server sent event id %q: %w", ev.ID, err)
			break
		}
		if err := p.print(&eventstore.Event{ID: id, Topic: ev.Topic, Type: ev.Type, Data: ev.Data}); err != nil {
			return err
		}
		if err := p.flush(); err != nil {
			return err
		}
		last = ev.ID
		if n++; limit > 0 && n == limit {
			break
		}
	}
	resume := req.After
	if last != "" {
		resume = last
	}
	printStopped(a, n, resume, a.resumeCommand(fs, "--after", resume))
	switch {
	case ctx.Err() != nil:
		return ctx.Err() // interrupted: exit code 130
	case failed != nil:
		return fmt.Errorf("tail: %w", failed)
	}
	return nil
}
