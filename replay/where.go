package replay

import (
	"github.com/rewind-dev/rewind/eventfilter"
	"github.com/rewind-dev/rewind/eventstore"
)

// sharedFilter is one distinct filter (by eventfilter.Key) of the live
// set, shared by every follower that asked for it: the hub evaluates it
// once per event, whatever the number of its followers. Guarded by Hub.mu.
type sharedFilter struct {
	filter *eventfilter.Filter
	refs   int    // registered followers holding it
	seq    uint64 // the event pass is for
	pass   bool
}

// shareFilter returns the live set's entry for f, adding it or taking a
// reference; nil for no filter. Called with Hub.mu held.
func (h *Hub) shareFilter(f *eventfilter.Filter) *sharedFilter {
	if f == nil {
		return nil
	}
	s, ok := h.filters[f.Key()]
	if !ok {
		s = &sharedFilter{filter: f}
		h.filters[f.Key()] = s
	}
	s.refs++
	return s
}

// releaseFilter drops a reference taken by shareFilter. Called with
// Hub.mu held.
func (h *Hub) releaseFilter(s *sharedFilter) {
	if s == nil {
		return
	}
	if s.refs--; s.refs == 0 {
		delete(h.filters, s.filter.Key())
	}
}

// passes reports whether ev passes s, evaluating s on ev only the first
// time one of its followers asks; evaluated counts those evaluations.
// Called with Hub.mu held, for the event being published.
func (s *sharedFilter) passes(ev *eventstore.Event, doc **eventfilter.Doc, evaluated *int) bool {
	if s == nil {
		return true
	}
	if s.seq != ev.Seq {
		if *doc == nil {
			*doc = eventfilter.NewDoc(ev.Data)
		}
		s.seq, s.pass = ev.Seq, s.filter.Match(*doc)
		*evaluated++
	}
	return s.pass
}

// wants reports whether r's request selects ev by its data: replays use it
// on each event they read, as the hub does live, so that a resume with the
// same filter and cursor continues exactly.
func (r *run) wants(ev *eventstore.Event) bool { return r.req.Filter.MatchData(ev.Data) }
