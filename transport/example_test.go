package transport_test

import (
	"context"
	"fmt"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/transport"
)

// stream is a transport's side of one operation: a Delivery that also
// writes an id with each result.
type stream struct{ ids, errs []string }

func (s *stream) ReportError(err *gqlerror.Error) { s.errs = append(s.errs, err.Message) }
func (s *stream) Delivering(id string)            { s.ids = append(s.ids, id) }

// A transport puts its Delivery in the operation's context; a resolver
// asks it for what it offers and falls back to gqlgen's channel alone.
func Example() {
	// The transport, before it hands the operation to the executor:
	st := &stream{}
	ctx := transport.With(context.Background(), st)

	// The subscription resolver:
	d, _ := transport.From(ctx)
	if _, native := d.(transport.StreamSink); native {
		fmt.Println("native")
	}
	if ids, ok := d.(transport.EventIDSink); ok {
		ids.Delivering("01A") // just before sending each event on the channel
		ids.Delivering("01B")
	}
	if d != nil {
		d.ReportError(&gqlerror.Error{Message: "slow consumer"}) // just before closing it
	}

	fmt.Println(st.ids, st.errs)
	// Output:
	// [01A 01B] [slow consumer]
}
