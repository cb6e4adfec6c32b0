package main

import (
	"encoding/json"

	"github.com/rewind-dev/rewind/eventfilter"
)

// whereFlag is --where: a filter on events' data, the JSON of GraphQL's
// where argument (eventfilter.Spec), compiled when the flag is parsed.
type whereFlag struct {
	text   string
	filter *eventfilter.Filter // nil: no filter
}

const whereUsage = "keep only events whose data passes this filter `JSON`, as GraphQL's where: " +
	`e.g. '{"path":"status","eq":"paid"}' or '{"and":[{"path":"status","eq":"paid"},{"path":"total","gte":10}]}'` +
	" (a path and one of eq, ne, in, gt, gte, lt, lte, exists; or and, or, not)"

func (w *whereFlag) String() string { return w.text }

func (w *whereFlag) Set(s string) error {
	f, err := eventfilter.Parse([]byte(s))
	if err != nil {
		return err
	}
	w.text, w.filter = s, f
	return nil
}

// raw is the filter as sent to a server: nil without one.
func (w *whereFlag) raw() json.RawMessage {
	if w.filter == nil {
		return nil
	}
	return json.RawMessage(w.text)
}
