package graph

import (
	"context"
	"go/parser"
	"go/token"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/transport"
)

// TestResolversImportNoTransport: resolvers ask the delivery contract
// (package transport) for what they need, never a transport itself; only
// the HTTP endpoint's assembly (handler.go) builds transports.
func TestResolversImportNoTransport(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") || path == "handler.go" {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, spec := range f.Imports {
			imp, _ := strconv.Unquote(spec.Path.Value)
			if strings.HasPrefix(imp, "github.com/rewind-dev/rewind/transport/") {
				t.Errorf("%s imports %s: ask transport.From(ctx) instead", path, imp)
			}
		}
	}
}

// sseLike is a delivery with a resume point and event ids, as SSE's.
type sseLike struct {
	resume string

	mu  sync.Mutex
	ids []string
}

func (d *sseLike) ReportError(*gqlerror.Error) {}
func (d *sseLike) ResumeAfter() (string, bool) { return d.resume, d.resume != "" }

func (d *sseLike) Delivering(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ids = append(d.ids, id)
}

func (d *sseLike) given() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.ids)
}

// onlyErrors is a delivery that offers nothing optional.
type onlyErrors struct{ errs gqlerror.List }

func (d *onlyErrors) ReportError(err *gqlerror.Error) { d.errs = append(d.errs, err) }

func TestResumeFrom(t *testing.T) {
	after := "01AFTER"
	cases := []struct {
		name string
		ctx  context.Context
		want *string
	}{
		{"no delivery", context.Background(), &after},
		{"no resume point offered", transport.With(context.Background(), &onlyErrors{}), &after},
		{"resumer without a point", transport.With(context.Background(), &sseLike{}), &after},
		{"resumer with a point", transport.With(context.Background(), &sseLike{resume: "01LAST"}), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := resumeFrom(c.ctx, &after)
			if c.want != nil && got != c.want {
				t.Fatalf("got %v, want afterId itself", *got)
			}
			if c.want == nil && (got == nil || *got != "01LAST") {
				t.Fatalf("got %v, want the resume point", got)
			}
		})
	}
}

func TestWithEventIDs(t *testing.T) {
	evs := []*eventstore.Event{{ID: ulid.Make()}, {ID: ulid.Make()}}
	feed := func() <-chan *eventstore.Event {
		c := make(chan *eventstore.Event, len(evs))
		for _, ev := range evs {
			c <- ev
		}
		close(c)
		return c
	}
	ctx := context.Background()

	c := feed()
	if got := withEventIDs(ctx, &onlyErrors{}, c); got != c {
		t.Fatal("a delivery that wants no ids got a relay")
	}
	if got := withEventIDs(ctx, nil, c); got != c {
		t.Fatal("no delivery got a relay")
	}

	d := &sseLike{}
	var relayed []*eventstore.Event
	for ev := range withEventIDs(ctx, d, feed()) {
		// The id of each event is given before the event is sent, in order.
		relayed = append(relayed, ev)
		if ids := d.given(); len(ids) < len(relayed) || ids[len(relayed)-1] != ev.ID.String() {
			t.Fatalf("event %d (%s) sent before its id was given (ids %v)", len(relayed), ev.ID, ids)
		}
	}
	if !slices.Equal(relayed, evs) {
		t.Fatalf("relayed %v, want %v", relayed, evs)
	}
}

func TestReportSubscriptionError(t *testing.T) {
	r := NewResolver(nil, nil, slog.New(slog.DiscardHandler))
	if r.reportSubscriptionError(context.Background(), eventstore.ErrUnavailable) {
		t.Fatal("reported with no delivery")
	}
	d := &onlyErrors{}
	if !r.reportSubscriptionError(transport.With(context.Background(), d), eventstore.ErrUnavailable) {
		t.Fatal("not reported to the delivery")
	}
	if len(d.errs) != 1 || d.errs[0].Extensions["code"] != codes.Unavailable {
		t.Fatalf("reported %v, want one %s error", d.errs, codes.Unavailable)
	}
}
