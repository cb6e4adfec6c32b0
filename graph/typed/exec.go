package typed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/oklog/ulid/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/deliver"
	"github.com/rewind-dev/rewind/eventfilter"
	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph/render"
	"github.com/rewind-dev/rewind/graph/scalar"
	"github.com/rewind-dev/rewind/internal/saturate"
	"github.com/rewind-dev/rewind/replay"
)

// Deps is what the typed API needs of Rewind's own API (package graph),
// which the server composing them gives it: the typed fields read, publish
// and deliver exactly as their generic twins do.
type Deps struct {
	// Source serves subscriptions; its Present presents every error.
	Source deliver.Source
	// Cache shares renders of one shape between subscribers.
	Cache *render.Cache
	// MayRead checks that the request's principal may read every pattern.
	MayRead func(ctx context.Context, patterns ...string) error
	// Cursor resolves a cursor argument (after) as Rewind's history does.
	Cursor func(ctx context.Context, arg, id string) (uint64, error)
	// History reads one page of history: up to n events of q that filter
	// and keep keep, charged against the operation's response budget.
	History func(ctx context.Context, q eventstore.Query, n int, filter *eventfilter.Filter, keep func(*eventstore.Event) bool) (evs []*eventstore.Event, hasNext bool, end ulid.ULID, err error)
	// Publish appends ev as Mutation.publish does: grants, rate,
	// idempotency key (nil: none) and the mutation document's gate.
	Publish func(ctx context.Context, ev eventstore.Event, key *string) (*eventstore.Event, error)
	// Owner is whom a subscription's filters count against
	// (replay.Request.Owner).
	Owner func(ctx context.Context) string
	// Cost is the cost model of the generic twins.
	Cost CostModel
}

// CostModel is what typed fields cost, as their generic twins do: a
// subscription its selection (child) plus its start point's reads and its
// filter, a page its size times its selection plus its filter's scan.
type CostModel interface {
	Subscription(child int, start deliver.Start, where any) int
	Page(child int, first *int, where any) int
	// ReadsStorage says which of Rewind's own fields read storage.
	ReadsStorage(typeName, field string, args map[string]any) bool
}

// Serve returns the executable schema of a: base (gqlgen's generated
// executable schema of Rewind's fields, on a's merged schema) serves
// every root field of Rewind's, and the typed root fields are served here
// with deps.
func Serve(a *API, base graphql.ExecutableSchema, deps Deps) graphql.ExecutableSchema {
	return &schema{base: base, api: a, deps: deps}
}

// schema is the executable schema of the typed API.
type schema struct {
	base graphql.ExecutableSchema
	api  *API
	deps Deps
}

var _ graphql.ExecutableSchema = (*schema)(nil)

func (s *schema) Schema() *ast.Schema { return s.api.schema }

// Complexity counts typed fields like their generic twins (see CostModel);
// _entities costs its representations times its selection.
func (s *schema) Complexity(ctx context.Context, typeName, field string, child int, args map[string]any) (int, bool) {
	f := s.api.field(typeName, field)
	if f == nil {
		return s.base.Complexity(ctx, typeName, field, child, args)
	}
	switch f.fed {
	case fedService:
		return 1, true
	case fedEntities:
		reps, _ := args["representations"].([]any)
		return saturate.Mul(max(len(reps), 1), child), true
	}
	switch f.root {
	case "Subscription":
		st, _ := startArgs(args)
		return s.deps.Cost.Subscription(child, st, args["where"]), true
	case "Query":
		var first *int
		if v, ok := intArg(args["first"]); ok {
			first = &v
		}
		return s.deps.Cost.Page(child, first, args["where"]), true
	}
	return 0, false
}

// ReadsStorage reports whether a root field reads storage: typed queries,
// _entities, typed subscriptions with a start point, and Rewind's own
// (CostModel.ReadsStorage).
func (s *schema) ReadsStorage(typeName, field string, args map[string]any) bool {
	f := s.api.field(typeName, field)
	if f == nil {
		return s.deps.Cost.ReadsStorage(typeName, field, args)
	}
	if f.fed != 0 {
		return f.fed == fedEntities
	}
	switch f.root {
	case "Query":
		return true
	case "Subscription":
		st, _ := startArgs(args)
		return (st.Latest != nil && *st.Latest) || st.AfterID != nil || st.Last != nil || st.Since != nil
	}
	return false
}

func (s *schema) Exec(ctx context.Context) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	root := render.RootType(oc.Operation.Operation)
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
func (s *schema) execRoot(ctx context.Context, oc *graphql.OperationContext, root string, fields []graphql.CollectedField) *graphql.Response {
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
		buf = render.AppendQuoted(buf, f.Alias)
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
func (s *schema) execBase(ctx context.Context, oc *graphql.OperationContext, fields []graphql.CollectedField, idx []int) map[string]json.RawMessage {
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
func (s *schema) resolve(ctx context.Context, tf *typedField, f graphql.CollectedField) ([]byte, bool) {
	oc := graphql.GetOperationContext(ctx)
	args := f.ArgumentMap(oc.Variables)
	ctx = fieldContext(ctx, tf.root, f, args)
	if tf.fed != 0 {
		return s.resolveFederation(ctx, oc, tf, f, args)
	}
	prog, err := render.Compile(oc, s.api.schema, f, s.renderOptions(ctx, tf))
	var out []byte
	var errs gqlerror.List
	if err == nil {
		if tf.root == "Mutation" {
			out, errs, err = s.publish(ctx, tf, prog, args)
		} else {
			out, errs, err = s.history(ctx, tf, prog, args)
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
	return prog.Value(out), true // the value is what merges
}

// history is Query.t: a page of the field's events, as Query.events.
func (s *schema) history(ctx context.Context, tf *typedField, prog *render.Program, args map[string]any) ([]byte, gqlerror.List, error) {
	n := defaultPage
	if v, ok := intArg(args["first"]); ok {
		n = v
	}
	topics := tf.patterns
	if t, ok := args["topic"].(string); ok {
		var err error
		if topics, err = tf.narrow("topic", []string{t}); err != nil {
			return nil, nil, err
		}
	}
	if err := s.deps.MayRead(ctx, topics...); err != nil {
		return nil, nil, err
	}
	filter, err := tf.whereArg(s.api.source, args)
	if err != nil {
		return nil, nil, err
	}
	q := eventstore.Query{Topics: topics, Types: tf.types}
	if after, ok := args["after"].(string); ok {
		if q.After, err = s.deps.Cursor(ctx, "after", after); err != nil {
			return nil, nil, err
		}
	}
	// Another member's type on a pattern of this one is skipped.
	keep := func(ev *eventstore.Event) bool { return tf.member(ev.Topic, ev.Type) != nil }
	evs, hasNext, end, err := s.deps.History(ctx, q, n, filter, keep)
	if err != nil {
		return nil, nil, err
	}
	out, errs := prog.RenderPage(nil, evs, hasNext, end)
	return out, errs, nil
}

// publish is Mutation.publishT: data, coerced by validation to the input
// type, is stored as the JSON object, as publish stores it (grants, rate,
// idempotency and the mutation gate alike).
func (s *schema) publish(ctx context.Context, tf *typedField, prog *render.Program, args map[string]any) ([]byte, gqlerror.List, error) {
	ev, err := s.api.publishEvent(tf, args)
	if err != nil {
		return nil, nil, err
	}
	var key *string
	if k, ok := args["idempotencyKey"].(string); ok {
		key = &k
	}
	stored, err := s.deps.Publish(ctx, ev, key)
	if err != nil {
		return nil, nil, err
	}
	out, errs := prog.Render(nil, stored, false)
	return out, errs, nil
}

// renderOptions are the render options of tf's programs in ctx's
// operation: errors presented as the API does, union members by topic
// and type, and the operation's response limit.
func (s *schema) renderOptions(ctx context.Context, tf *typedField) render.Options {
	opts := render.Options{Present: s.deps.Source.Present, MaxBytes: render.Limit(ctx)}
	if tf != nil && tf.union != nil {
		opts.Member = func(ev *eventstore.Event) string {
			if m := tf.member(ev.Topic, ev.Type); m != nil {
				return m.Name
			}
			return ""
		}
	}
	return opts
}

// defaultPage is Query.t's first when it is null (the schema's default,
// 50, arrives as an argument).
const defaultPage = 50

func badInput(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{codes.ErrBadInput}, args...)...)
}

// publishEvent is the event a typed publish with these arguments appends.
func (a *API) publishEvent(tf *typedField, args map[string]any) (eventstore.Event, error) {
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
// event renders once per shape for all its subscribers.
func (s *schema) subscribe(ctx context.Context, oc *graphql.OperationContext, f graphql.CollectedField) graphql.ResponseHandler {
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
	if err := s.deps.MayRead(ctx, topics...); err != nil {
		return fail(err)
	}
	prog, err := render.Compile(oc, s.api.schema, f, s.renderOptions(ctx, tf))
	if err != nil {
		return fail(err)
	}
	st, err := startArgs(args)
	if err != nil {
		return fail(err)
	}
	filter, err := tf.whereArg(s.api.source, args)
	if err != nil {
		return fail(err)
	}
	req := replay.Request{Topics: topics, Types: tf.types, Filter: filter, Owner: s.deps.Owner(ctx)}
	// Errors of the subscription's start and end are the field's.
	src := s.deps.Source
	if err := src.Request(fctx, &req, st); err != nil {
		return fail(err)
	}
	keep := func(ev *eventstore.Event) bool { return tf.member(ev.Topic, ev.Type) != nil }
	r, release := s.deps.Cache.Hold(prog)
	deliver.OnEnd(fctx, release)
	if native, err := src.Stream(fctx, req, r, keep); native || err != nil {
		if err != nil {
			return fail(err)
		}
		return end // never called: the transport drains the stream
	}
	results, err := deliver.Relay(fctx, src, req, func(ev *eventstore.Event, live bool) (*graphql.Response, bool, error) {
		if !keep(ev) {
			return nil, false, nil
		}
		data, errs := r.AppendResult(nil, ev, live)
		return &graphql.Response{Data: data, Errors: errs}, true, nil
	})
	if err != nil {
		return fail(err)
	}
	return func(rctx context.Context) *graphql.Response {
		select {
		case resp := <-results:
			return resp // nil once the subscription ends (its error reported)
		case <-rctx.Done():
			return nil
		}
	}
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

// startArgs reads a subscription's start point from its raw arguments
// (the limits extension has checked their literals).
func startArgs(args map[string]any) (deliver.Start, error) {
	var st deliver.Start
	if v, ok := args["afterId"].(string); ok {
		st.AfterID = &v
	}
	if v, ok := intArg(args["last"]); ok {
		st.Last = &v
	}
	if v, ok := args["latest"].(bool); ok {
		st.Latest = &v
	}
	if v := args["since"]; v != nil {
		t, err := scalar.UnmarshalTime(v)
		if err != nil {
			return st, fmt.Errorf("%w: since: %v", codes.ErrBadInput, err)
		}
		st.Since = &t
	}
	return st, nil
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
