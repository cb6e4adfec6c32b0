package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/eventfilter"
	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph/scalar"
	"github.com/rewind-dev/rewind/internal/metrics"
	"github.com/rewind-dev/rewind/replay"
	"github.com/rewind-dev/rewind/transport"
)

// ServeEvents adds the typed API of s (see typedAPI) to the schema
// NewSchema returns; nil leaves the API exactly as it is. It fails when
// one of s's names clashes with Rewind's own, naming the file and line.
// Call it before NewSchema and MutationGate.
func (r *Resolver) ServeEvents(s *eventschema.Schema) error {
	r.events = s
	return r.buildAPI()
}

// ServeFederation makes the schema NewSchema returns an Apollo Federation
// v2 subgraph (see federation.go), or, with false, not. Off, the API is
// exactly as without it. Call it before NewSchema; with ServeEvents, in
// either order.
func (r *Resolver) ServeFederation(on bool) error {
	r.federated = on
	return r.buildAPI()
}

func (r *Resolver) buildAPI() error {
	if r.events == nil && !r.federated {
		r.typed = nil
		return nil
	}
	a, err := buildTypedAPI(r.events, r.federated)
	if err != nil {
		return err
	}
	r.typed = a
	return nil
}

// CheckEvents reports whether the typed API of s can be served (see
// ServeEvents), for a server to refuse to start when it cannot.
func CheckEvents(s *eventschema.Schema) error {
	if s == nil {
		return nil
	}
	_, err := buildTypedAPI(s, true) // federated: the most names taken
	return err
}

// TypedSDL returns the SDL the typed API adds (the user's types without
// Rewind's directives, the envelopes, inputs and root fields), or "".
func (r *Resolver) TypedSDL() string {
	if r.typed == nil {
		return ""
	}
	return r.typed.sdl
}

// typedSchema is the executable schema of the typed API: the generated one
// serves Rewind's own root fields, and typed root fields are served here.
type typedSchema struct {
	base graphql.ExecutableSchema
	api  *typedAPI
	r    *Resolver
}

var _ graphql.ExecutableSchema = (*typedSchema)(nil)

func (s *typedSchema) Schema() *ast.Schema { return s.api.schema }

// Complexity counts typed fields like their generic twins (see costs):
// a subscription its selection plus its start point's reads, a page its
// size times its selection.
func (s *typedSchema) Complexity(ctx context.Context, typeName, field string, child int, args map[string]any) (int, bool) {
	f := s.api.field(typeName, field)
	if f == nil {
		return s.base.Complexity(ctx, typeName, field, child, args)
	}
	switch f.fed {
	case fedService:
		return 1, true
	case fedEntities:
		reps, _ := args["representations"].([]any)
		return mulSat(max(len(reps), 1), child), true
	}
	switch f.root {
	case "Subscription":
		a := startArgs(args)
		return addSat(child, addSat(startWeight(a.afterID, a.last, a.since, a.latest), whereArgCost(args["where"]))), true
	case "Query":
		n := defaultPage
		if v, ok := intArg(args["first"]); ok {
			n = min(max(v, 1), maxPage)
		}
		if args["where"] != nil {
			return addSat(mulSat(n, child), addSat(filteredScanWeight, whereArgCost(args["where"]))), true
		}
		return mulSat(n, child), true
	}
	return 0, false
}

// readsStorage is readsStorage for the typed fields too.
func (s *typedSchema) readsStorage(typeName, field string, args map[string]any) bool {
	f := s.api.field(typeName, field)
	if f == nil {
		return readsStorage(typeName, field, args)
	}
	if f.fed != 0 {
		return f.fed == fedEntities
	}
	switch f.root {
	case "Query":
		return true
	case "Subscription":
		a := startArgs(args)
		return (a.latest != nil && *a.latest) || a.afterID != nil || a.last != nil || a.since != nil
	}
	return false
}

func rootOf(op ast.Operation) string {
	switch op {
	case ast.Mutation:
		return "Mutation"
	case ast.Subscription:
		return "Subscription"
	}
	return "Query"
}

func (s *typedSchema) Exec(ctx context.Context) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	root := rootOf(oc.Operation.Operation)
	fields := graphql.CollectFields(oc, oc.Operation.SelectionSet, []string{root})
	typed := false
	for _, f := range fields {
		typed = typed || s.api.field(root, f.Name) != nil
	}
	if !typed {
		return s.base.Exec(ctx)
	}
	if root == "Subscription" {
		if len(fields) != 1 {
			graphql.AddErrorf(ctx, "must subscribe to exactly one stream")
			return func(context.Context) *graphql.Response { return nil }
		}
		return s.subscribe(ctx, oc, fields[0])
	}
	done := false
	return func(ctx context.Context) *graphql.Response {
		if done {
			return nil
		}
		done = true
		return s.execRoot(ctx, oc, root, fields)
	}
}

// execRoot executes a query or mutation that holds typed root fields:
// Rewind's own go to the generated executor (a copy of the operation with
// only them; for a mutation, each run of them in turn, so that fields
// still execute in document order) and the results merge in document
// order.
func (s *typedSchema) execRoot(ctx context.Context, oc *graphql.OperationContext, root string, fields []graphql.CollectedField) *graphql.Response {
	values := make([][]byte, len(fields))
	invalid := false
	base := func(idx []int) {
		data := s.execBase(ctx, oc, fields, idx)
		if data == nil {
			invalid = true
			return
		}
		for _, i := range idx {
			values[i] = data[fields[i].Alias]
		}
	}
	var pending []int // base fields not yet executed
	for i, f := range fields {
		tf := s.api.field(root, f.Name)
		if tf == nil {
			pending = append(pending, i)
			continue
		}
		if root == "Mutation" && len(pending) > 0 {
			base(pending)
			pending = nil
		}
		v, ok := s.resolve(ctx, tf, f)
		values[i], invalid = v, invalid || !ok
	}
	if len(pending) > 0 {
		base(pending)
	}
	if invalid {
		return &graphql.Response{Data: []byte("null")}
	}
	buf := []byte{'{'}
	for i, f := range fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendQuoted(buf, f.Alias)
		buf = append(buf, ':')
		if values[i] == nil {
			buf = append(buf, "null"...)
		} else {
			buf = append(buf, values[i]...)
		}
	}
	return &graphql.Response{Data: append(buf, '}')}
}

// execBase runs the root fields idx of fields through the generated
// executor and returns their values by alias, nil when its data is null.
// Their errors reach the response through ctx, as they would alone.
func (s *typedSchema) execBase(ctx context.Context, oc *graphql.OperationContext, fields []graphql.CollectedField, idx []int) map[string]json.RawMessage {
	set := make(ast.SelectionSet, 0, len(idx))
	for _, i := range idx {
		f := *fields[i].Field
		f.SelectionSet = fields[i].Selections
		set = append(set, &f)
	}
	op := *oc.Operation
	op.SelectionSet = set
	sub := &graphql.OperationContext{
		RawQuery: oc.RawQuery, Variables: oc.Variables, OperationName: oc.OperationName,
		Doc: oc.Doc, Extensions: oc.Extensions, Headers: oc.Headers, Operation: &op,
		DisableIntrospection: oc.DisableIntrospection, RecoverFunc: oc.RecoverFunc,
		ResolverMiddleware: oc.ResolverMiddleware, RootResolverMiddleware: oc.RootResolverMiddleware,
		Stats: oc.Stats,
	}
	sctx := graphql.WithOperationContext(ctx, sub)
	resp := s.base.Exec(sctx)(sctx)
	if resp == nil || len(resp.Data) == 0 || string(resp.Data) == "null" {
		return nil
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(resp.Data, &out); err != nil {
		graphql.AddError(ctx, fmt.Errorf("merge results: %w", err))
		return nil
	}
	return out
}

// fieldContext is the context a typed root field resolves in, as the
// generated executor makes it for its own (errors get the field's path).
func fieldContext(ctx context.Context, root string, f graphql.CollectedField, args map[string]any) context.Context {
	ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Object: root})
	return graphql.WithFieldContext(ctx, &graphql.FieldContext{Object: root, Field: f, Args: args, IsMethod: true, IsResolver: true})
}

// resolve resolves a typed query or mutation field: its value, or false
// (an error added) for a null, which propagates: the fields are non-null.
func (s *typedSchema) resolve(ctx context.Context, tf *typedField, f graphql.CollectedField) ([]byte, bool) {
	oc := graphql.GetOperationContext(ctx)
	args := f.ArgumentMap(oc.Variables)
	ctx = fieldContext(ctx, tf.root, f, args)
	if tf.fed != 0 {
		return s.resolveFederation(ctx, oc, tf, f, args)
	}
	prog, err := compileTyped(oc, s.api.schema, tf, f, s.r.present)
	var out []byte
	var errs gqlerror.List
	if err == nil {
		prog.maxBytes = responseLimit(ctx)
		if tf.root == "Mutation" {
			out, errs, err = s.r.publishTyped(ctx, tf, prog, args)
		} else {
			out, errs, err = s.r.typedHistory(ctx, tf, prog, args)
		}
	}
	if err != nil {
		graphql.AddError(ctx, err)
		return nil, false
	}
	for _, e := range errs {
		graphql.AddError(ctx, e)
	}
	if bytes.Equal(out, []byte("null")) {
		return nil, false
	}
	// out is {"<alias>":value}: the value is what merges.
	return out[len(prog.root) : len(out)-1], true
}

// typedHistory is Query.t: a page of the field's events, as Query.events.
func (r *Resolver) typedHistory(ctx context.Context, tf *typedField, prog *typedProgram, args map[string]any) ([]byte, gqlerror.List, error) {
	n := defaultPage
	if v, ok := intArg(args["first"]); ok {
		n = v
	}
	if n < 1 || n > maxPage {
		return nil, nil, badInput("first must be between 1 and %d, got %d", maxPage, n)
	}
	topics := tf.patterns
	if t, ok := args["topic"].(string); ok {
		var err error
		if topics, err = tf.narrow("topic", []string{t}); err != nil {
			return nil, nil, err
		}
	}
	if err := mayRead(ctx, topics...); err != nil {
		return nil, nil, err
	}
	filter, err := tf.whereArg(r.typed.source, args)
	if err != nil {
		return nil, nil, err
	}
	pq := pageQuery{
		q: eventstore.Query{Topics: topics, Types: tf.types}, n: n, filter: filter,
		// Another member's type on a pattern of this one is skipped.
		keep:   func(ev *eventstore.Event) bool { return tf.member(ev.Topic, ev.Type) != nil },
		charge: r.chargeFor(ctx),
	}
	if after, ok := args["after"].(string); ok {
		seq, err := r.cursor(ctx, "after", after)
		if err != nil {
			return nil, nil, err
		}
		pq.q.After = seq
	}
	p, err := readPage(ctx, r.store, pq)
	if err != nil {
		return nil, nil, err
	}
	out, errs := prog.renderPage(nil, p.events, p.hasNext, p.end)
	return out, errs, nil
}

// publishTyped is Mutation.publishT: data, coerced by validation to the
// input type, is stored as the JSON object, as publish stores it (grants,
// rate, idempotency and the mutation gate alike).
func (r *Resolver) publishTyped(ctx context.Context, tf *typedField, prog *typedProgram, args map[string]any) ([]byte, gqlerror.List, error) {
	ev, err := r.typed.publishEvent(tf, args)
	if err != nil {
		return nil, nil, err
	}
	var key *string
	if k, ok := args["idempotencyKey"].(string); ok {
		key = &k
	}
	stored, err := (&mutationResolver{r}).Publish(ctx, ev.Topic, &ev.Type, ev.Data, key)
	if err != nil {
		return nil, nil, err
	}
	out, errs := prog.renderEvent(nil, stored, false)
	return out, errs, nil
}

// publishEvent is the event a typed publish with these arguments appends.
func (a *typedAPI) publishEvent(tf *typedField, args map[string]any) (eventstore.Event, error) {
	topic, _ := args["topic"].(string)
	if err := tf.within(topic); err != nil {
		return eventstore.Event{}, err
	}
	data, err := appendInput(nil, a.schema, &ast.Type{NamedType: tf.event.Name + "Input", NonNull: true}, args["data"])
	if err != nil {
		return eventstore.Event{}, badInput("data: %v", err)
	}
	return eventstore.Event{Topic: topic, Type: tf.event.Type, Data: data}, nil
}

// appendInput writes an input value, coerced by validation, as JSON in
// the order of its type's fields; a single value for a list is a list of
// one, as input coercion says.
func appendInput(buf []byte, schema *ast.Schema, t *ast.Type, v any) ([]byte, error) {
	if v == nil {
		return append(buf, "null"...), nil
	}
	if t.Elem != nil {
		list, ok := v.([]any)
		if !ok {
			list = []any{v}
		}
		buf = append(buf, '[')
		for i, el := range list {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = appendInput(buf, schema, t.Elem, el); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	}
	def := schema.Types[t.NamedType]
	if def != nil && def.Kind == ast.InputObject {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("expected an object for %s", def.Name)
		}
		buf = append(buf, '{')
		n := 0
		for _, f := range def.Fields {
			fv, ok := m[f.Name]
			if !ok {
				continue
			}
			if n > 0 {
				buf = append(buf, ',')
			}
			n++
			buf = strconv.AppendQuote(buf, f.Name)
			buf = append(buf, ':')
			var err error
			if buf, err = appendInput(buf, schema, f.Type, fv); err != nil {
				return nil, err
			}
		}
		return append(buf, '}'), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(buf, b...), nil
}

// narrow returns the topics a client asks for, each of which must lie
// within the declared patterns; none asked for: the declared patterns.
func (f *typedField) narrow(arg string, topics []string) ([]string, error) {
	if topics == nil {
		return f.patterns, nil
	}
	if len(topics) == 0 {
		return nil, badInput("%s: give at least one topic pattern, or none for %s", arg, strings.Join(f.patterns, ", "))
	}
	for _, t := range topics {
		if err := eventstore.ValidatePattern(t); err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(f.patterns, func(p string) bool { return eventstore.Covers(p, t) }) {
			return nil, badInput("%s: %s is not within the declared topics %s", arg, t, strings.Join(f.patterns, ", "))
		}
	}
	return topics, nil
}

// within checks that a publish's topic matches the declared patterns.
func (f *typedField) within(topic string) error {
	if err := eventstore.ValidateTopic(topic); err != nil {
		return err
	}
	if !slices.ContainsFunc(f.patterns, func(p string) bool { return eventstore.Match(p, topic) }) {
		return badInput("topic: %s is not within the declared topics %s", topic, strings.Join(f.patterns, ", "))
	}
	return nil
}

// subscribe serves a typed subscription, as Subscription.events: topics
// narrowed, grants, start point, caught-up signal and errors alike. Each
// event renders once per shape (see renderers) for all its subscribers.
func (s *typedSchema) subscribe(ctx context.Context, oc *graphql.OperationContext, f graphql.CollectedField) graphql.ResponseHandler {
	end := func(context.Context) *graphql.Response { return nil }
	tf := s.api.field("Subscription", f.Name)
	args := f.ArgumentMap(oc.Variables)
	fctx := fieldContext(ctx, "Subscription", f, args)
	fail := func(err error) graphql.ResponseHandler {
		graphql.AddError(fctx, err)
		return end
	}
	var topics []string
	if v, ok := args["topics"].([]any); ok {
		topics = make([]string, 0, len(v))
		for _, t := range v {
			str, _ := t.(string)
			topics = append(topics, str)
		}
	}
	topics, err := tf.narrow("topics", topics)
	if err != nil {
		return fail(err)
	}
	if err := mayRead(ctx, topics...); err != nil {
		return fail(err)
	}
	prog, err := compileTyped(oc, s.api.schema, tf, f, s.r.present)
	if err != nil {
		return fail(err)
	}
	prog.maxBytes = responseLimit(ctx)
	a := startArgs(args)
	if a.err != nil {
		return fail(a.err)
	}
	filter, err := tf.whereArg(s.api.source, args)
	if err != nil {
		return fail(err)
	}
	req := replay.Request{Topics: topics, Types: tf.types, Filter: filter, Owner: owner(ctx)}
	if err := StartAt(ctx, s.r.store, &req, a.afterID, a.last, a.since, a.latest); err != nil {
		return fail(err)
	}
	render := s.r.renderers.newTypedRenderer(ctx, prog)
	d, _ := transport.From(ctx)
	onEnd := replay.OnEnd(func(err error) { s.r.reportSubscriptionError(fctx, err) })
	if sink, ok := d.(transport.ResultSink); ok {
		// Natively, as streamNatively serves events: no goroutine and no
		// execution per event; errors go with the data they nulled.
		st := &typedStream{field: tf, render: render, delivered: metrics.Deliveries(ctx)}
		feed, err := s.r.hub.Attach(ctx, req, sink.Wake, onEnd, st.live.Option())
		if err != nil {
			return fail(err)
		}
		st.feed = feed
		sink.AttachResults(st)
		return end // never called: the transport drains st
	}
	mark := &replay.LiveMark{}
	sub, err := s.r.hub.Subscribe(ctx, req, onEnd, mark.Option())
	if err != nil {
		return fail(err)
	}
	return func(rctx context.Context) *graphql.Response {
		for {
			var ev *eventstore.Event
			var ok bool
			select {
			case ev, ok = <-sub.C:
			case <-rctx.Done():
				return nil
			}
			if !ok {
				return nil // an error was reported by OnEnd
			}
			if tf.member(ev.Topic, ev.Type) == nil {
				continue // another member's type on a pattern of this one
			}
			delivering(d, ev)
			data, errs := render.AppendResult(nil, ev, mark.Live(ev.Seq))
			return &graphql.Response{Data: data, Errors: errs}
		}
	}
}

// typedStream is a natively served typed subscription (a
// transport.ResultStream): its feed and shared renderer.
type typedStream struct {
	field     *typedField
	feed      *replay.Feed
	render    *renderer
	live      replay.LiveMark
	delivered prometheus.Counter // nil without metrics

	evs []*eventstore.Event // reused between drains
	buf []byte
}

var _ transport.ResultStream = (*typedStream)(nil)

func (s *typedStream) Drain(emit func(data []byte)) bool {
	return s.DrainResults(func(data, _ []byte) { emit(data) })
}

func (s *typedStream) DrainResults(emit func(data, errors []byte)) bool {
	evs, done, _ := s.feed.Take(s.evs[:0])
	n := 0
	for _, ev := range evs {
		if s.field.member(ev.Topic, ev.Type) == nil {
			continue // another member's type on a pattern of this one
		}
		var errs gqlerror.List
		s.buf, errs = s.render.AppendResult(s.buf[:0], ev, s.live.Live(ev.Seq))
		var errJSON []byte
		if len(errs) > 0 {
			errJSON, _ = json.Marshal(errs) // rare: events older than their type
		}
		emit(s.buf, errJSON)
		n++
	}
	if s.delivered != nil && n > 0 {
		s.delivered.Add(float64(n))
	}
	clear(evs)
	s.evs = evs[:0]
	return done
}

// whereArg compiles a typed field's where argument, as CompileWhere does
// Rewind's own (nil for none), checked against the declared type (see
// checkWhere); the limits extension has checked its literals, and
// eventfilter bounds it.
func (f *typedField) whereArg(s *eventschema.Schema, args map[string]any) (*eventfilter.Filter, error) {
	v := args["where"]
	if v == nil {
		return nil, nil
	}
	text, err := json.Marshal(v)
	if err == nil {
		var filter *eventfilter.Filter
		if filter, err = eventfilter.Parse(text); err == nil {
			if err := f.checkWhere(s, v); err != nil {
				return nil, err
			}
			return filter, nil
		}
	}
	return nil, fmt.Errorf("where: %w", err)
}

// start is a subscription's start point arguments, read from raw
// arguments (the limits extension has checked their literals).
type start struct {
	afterID *string
	last    *int
	since   *time.Time
	latest  *bool
	err     error
}

func startArgs(args map[string]any) start {
	var a start
	if v, ok := args["afterId"].(string); ok {
		a.afterID = &v
	}
	if v, ok := intArg(args["last"]); ok {
		a.last = &v
	}
	if v, ok := args["latest"].(bool); ok {
		a.latest = &v
	}
	if v := args["since"]; v != nil {
		t, err := scalar.UnmarshalTime(v)
		if err != nil {
			a.err = badInput("since: %v", err)
		} else {
			a.since = &t
		}
	}
	return a
}

// intArg reads an Int argument as validation left it: int64 from a
// literal, a JSON number from a variable.
func intArg(v any) (int, bool) {
	switch v := v.(type) {
	case int:
		return v, true
	case int64:
		return int(v), true
	case float64:
		return int(v), true
	case json.Number:
		n, err := v.Int64()
		return int(n), err == nil
	}
	return 0, false
}
