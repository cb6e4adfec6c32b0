package graph

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph/model"
)

// BenchmarkRender compares, per event of an events subscription selecting
// every field, gqlgen's execution (fed from a channel, as the resolver's
// channel feeds it) with AppendData: for a lone subscriber, for one that
// finds the event already rendered for its shape, and for one that renders
// it into the shared cache.
func BenchmarkRender(b *testing.B) {
	const query = `subscription { events(topics: ["orders.>"]) { id topic type data time live } }`
	ev := &eventstore.Event{
		ID: ulid.Make(), Seq: 1, Topic: "orders.eu", Type: "order.placed",
		Data: json.RawMessage(`{"user":"u-1842","action":"checkout","cart":{"items":[{"sku":"A-1","qty":2,"price":19.99},` +
			`{"sku":"B-7","qty":1,"price":5.5}],"total":45.48},"note":"leave it at the door, \"please\""}`),
	}
	env := newRenderEnv(b, nil, nil)
	env.root.feed = make(chan *eventstore.Event, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lone := env.subscribe(b, ctx, query, nil)

	b.Run("gqlgen", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			env.root.feed <- ev
			if resp := lone.handle(lone.ctx); resp == nil || len(resp.Data) == 0 {
				b.Fatal("no data")
			}
		}
	})
	var buf []byte
	b.Run("AppendResult/lone", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = lone.c.r.AppendResult(buf[:0], ev, true)
		}
	})

	shared := env.subscribe(b, ctx, query, nil).c.r
	env.subscribe(b, ctx, query, nil)
	b.Run("AppendResult/shared-hit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = shared.AppendResult(buf[:0], ev, true)
		}
	})
	b.Run("AppendResult/shared-miss", func(b *testing.B) {
		b.ReportAllocs()
		next := *ev
		for b.Loop() {
			next.Seq++
			buf, _ = shared.AppendResult(buf[:0], &next, true)
		}
	})
}

// BenchmarkRenderMessage compares gqlgen's execution of a realTimeMessages
// subscription selecting every field, with the resolver's toMessage, with
// AppendData for a lone subscriber, which calls toMessage itself.
func BenchmarkRenderMessage(b *testing.B) {
	const query = `subscription { realTimeMessages { id content timestamp } }`
	ev := &eventstore.Event{ID: ulid.Make(), Seq: 1, Topic: MessagesTopic, Type: MessageType,
		Data: json.RawMessage(`{"content":"see you at 8 \u00e0 la gare, \"quai\" 3"}`)}
	env := newRenderEnv(b, nil, nil)
	env.root.feed = make(chan *eventstore.Event)
	env.root.messages = make(chan *model.Message, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lone := env.subscribe(b, ctx, query, nil)

	b.Run("gqlgen", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			env.root.messages <- toMessage(ev)
			if resp := lone.handle(lone.ctx); resp == nil || len(resp.Data) == 0 {
				b.Fatal("no data")
			}
		}
	})
	var buf []byte
	b.Run("AppendResult/lone", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = lone.c.r.AppendResult(buf[:0], ev, false)
		}
	})
}
