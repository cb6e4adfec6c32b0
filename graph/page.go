package graph

import (
	"context"

	"github.com/oklog/ulid/v2"

	"github.com/rewind-dev/rewind/eventfilter"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph/render"
)

// maxScanPerPage bounds the events one filtered page of history reads
// looking for first matches: a filter that matches nothing costs a bounded
// read per page, not a scan of the topic.
const maxScanPerPage = 10 * maxPage

// page is one page of history, as Query.events and the typed Query.t
// serve it.
type page struct {
	events  []*eventstore.Event
	hasNext bool
	// end is the page's endCursor when it is not its last event's: the
	// last event scanned when a filtered scan ran out. Zero otherwise.
	end ulid.ULID
}

// pageQuery says what a page reads.
type pageQuery struct {
	q      eventstore.Query // topics, types and After
	n      int              // events wanted, 1 to maxPage
	filter *eventfilter.Filter
	keep   func(*eventstore.Event) bool // nil keeps all; a kept event counts towards n
	charge render.Charge
}

// readPage reads up to n events of q that keep and filter keep, scanning at
// most maxScanPerPage events when a filter may skip many. The page ends
// early, with hasNext, when the scan runs out (end is then the last event
// scanned: the next page starts after it) or when its next event would
// take the operation past its response budget (the next page starts after
// the last event given); an event that alone does not fit is
// ErrResponseTooLarge.
func readPage(ctx context.Context, store *eventstore.Store, pq pageQuery) (page, error) {
	q := pq.q
	q.Limit = pq.n + 1
	if pq.filter != nil || pq.keep != nil {
		q.Limit = maxScanPerPage
	}
	var p page
	var lastScanned ulid.ULID
	scanned := 0
	for ev, err := range store.Read(ctx, q) {
		if err != nil {
			return page{}, err
		}
		scanned++
		if (pq.keep != nil && !pq.keep(&ev)) || !pq.filter.MatchData(ev.Data) {
			lastScanned = ev.ID
			continue
		}
		if len(p.events) == pq.n {
			p.hasNext = true // a further event: the page is full and not the last
			return p, nil
		}
		if err := pq.charge.Take(&ev); err != nil {
			if len(p.events) == 0 {
				return page{}, err
			}
			p.hasNext = true // the budget is spent: the next page goes on from here
			return p, nil
		}
		p.events = append(p.events, &ev)
		lastScanned = ev.ID
	}
	if q.Limit == maxScanPerPage && scanned == maxScanPerPage {
		// The scan ran out: there may be more, after what was scanned.
		p.hasNext, p.end = true, lastScanned
	}
	return p, nil
}

// History reads one page of history for a typed API's Query fields (see
// readPage): first from 1 to maxPage events of q that filter and keep
// keep, charged to the field resolved in ctx.
func (r *Resolver) History(ctx context.Context, q eventstore.Query, first int, filter *eventfilter.Filter, keep func(*eventstore.Event) bool) ([]*eventstore.Event, bool, ulid.ULID, error) {
	if first < 1 || first > maxPage {
		return nil, false, ulid.ULID{}, badInput("first must be between 1 and %d, got %d", maxPage, first)
	}
	p, err := readPage(ctx, r.cfg.Store, pageQuery{q: q, n: first, filter: filter, keep: keep, charge: r.chargeFor(ctx)})
	return p.events, p.hasNext, p.end, err
}
