package graph

import (
	"context"
	"encoding/json"
	"runtime"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/transport"
)

// lifetimeSink is a delivery that takes result streams and offers the
// operation's own context, as the WebSocket transport does.
type lifetimeSink struct {
	life context.Context

	mu sync.Mutex
	st transport.ResultStream
}

func (s *lifetimeSink) ReportError(*gqlerror.Error) {}
func (s *lifetimeSink) Attach(st transport.Stream)  {}
func (s *lifetimeSink) Wake()                       {}
func (s *lifetimeSink) Lifetime() context.Context   { return s.life }
func (s *lifetimeSink) AttachResults(st transport.ResultStream) {
	s.mu.Lock()
	s.st = st
	s.mu.Unlock()
}

func (s *lifetimeSink) stream() transport.ResultStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// TestIdleStreamHoldsNoExecutorState: once its resolver has returned, a
// natively served subscription keeps none of its operation's executor
// state (gqlgen's OperationContext and what hangs from it) alive: what it
// holds is registered on the delivery's own context. It still delivers.
func TestIdleStreamHoldsNoExecutorState(t *testing.T) {
	store, hub := startStore(t)
	res := New(Config{Store: store, Hub: hub, Logger: quietLog()})
	exec := executor.New(res.Schema())
	life, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := &lifetimeSink{life: life}
	var op weak.Pointer[graphql.OperationContext]
	func() {
		ctx := transport.With(operation(life), sink)
		oc, errs := exec.CreateOperationContext(ctx, &graphql.RawParams{Query: `subscription { events(topics: ["t"]) { id data live } }`})
		if errs != nil {
			t.Fatal(errs)
		}
		op = weak.Make(oc)
		exec.DispatchOperation(ctx, oc)
	}()
	st := sink.stream()
	if st == nil {
		t.Fatal("the subscription was not served natively")
	}
	testenv.Eventually(t, 10*time.Second, "the operation's executor state to be collected", func() bool {
		runtime.GC()
		return op.Value() == nil
	})
	testenv.Eventually(t, 10*time.Second, "the subscription to start", func() bool { return hub.Subscribers() == 1 })
	ev, err := store.Append(context.Background(), eventstore.Event{Topic: "t", Type: "x", Data: json.RawMessage(`{"a":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	testenv.Eventually(t, 10*time.Second, "the event delivered", func() bool {
		st.DrainResults(func(data, _ []byte) { got = append(got, data...) })
		return len(got) > 0
	})
	if want := `{"events":{"id":"` + ev.ID.String() + `","data":{"a":1},"live":true}}`; string(got) != want {
		t.Fatalf("delivered %s, want %s", got, want)
	}
}
