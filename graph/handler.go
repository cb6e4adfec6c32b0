package graph

import (
	"context"
	"log/slog"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/extension"

	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph/document"
	"github.com/rewind-dev/rewind/internal/saturate"
)

// What an HTTP endpoint serving this schema needs from graph: the
// executable schema with its cost model, the operation extensions in the
// order they must run, the error presenter and the recover function. The
// endpoint itself (transports, GraphiQL, persisted queries) is assembled
// by the server package.

// Limits bounds operations. Zero values take the Default constants.
type Limits struct {
	// MaxDepth bounds an operation's selection nesting. Default
	// DefaultMaxDepth (12).
	MaxDepth int
	// MaxComplexity bounds an operation's cost: a list field costs its page
	// size times its selection, a subscription its start point's storage
	// reads (see costs). Default DefaultMaxCost (200,000).
	MaxComplexity int
	// MaxStorageReads bounds how many fields of one operation read storage
	// (Query.event, events and topics; subscriptions with afterId, last or
	// since). Default DefaultMaxStorageReads (10).
	MaxStorageReads int
	// Document bounds a document before it is validated (see package
	// document).
	Document document.Limits
	// MaxResponseBytes bounds what one operation may make the server
	// render: each event of a subscription, a mutation's result, and all
	// the events of a query together (see bytes.go). Default
	// DefaultResponsePayloads (8) times MaxPayload.
	MaxResponseBytes int
	// MaxPayload is the largest event data the store takes (its
	// eventstore.Config.MaxPayload), to measure selections against.
	// Default eventstore.DefaultMaxPayload.
	MaxPayload int
	// DisableIntrospection refuses __schema and __type queries.
	DisableIntrospection bool
}

func (c Limits) withDefaults() Limits {
	if c.MaxDepth <= 0 {
		c.MaxDepth = DefaultMaxDepth
	}
	if c.MaxComplexity <= 0 {
		c.MaxComplexity = DefaultMaxCost
	}
	if c.MaxStorageReads <= 0 {
		c.MaxStorageReads = DefaultMaxStorageReads
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = eventstore.DefaultMaxPayload
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = saturate.Mul(DefaultResponsePayloads, c.MaxPayload)
	}
	return c
}

// LimitExtensions returns the extensions that bound operations, first of
// all the operation's extensions: the limits refuse the argument literals
// that would make the others, and the executor, panic. Then introspection
// (or its refusal).
func LimitExtensions(l Limits) []graphql.HandlerExtension {
	l = l.withDefaults()
	exts := []graphql.HandlerExtension{&limits{maxDepth: l.MaxDepth, maxCost: l.MaxComplexity, maxReads: l.MaxStorageReads,
		maxBytes: l.MaxResponseBytes, maxPayload: l.MaxPayload}}
	if l.DisableIntrospection {
		return append(exts, noIntrospection{})
	}
	return append(exts, extension.Introspection{})
}

// MutationGate returns the extension that checks every append a mutation
// document asks for before any runs (see mutationGate).
func MutationGate(res *Resolver) graphql.HandlerExtension { return mutationGate{res} }

// Presenter returns the error presenter res was made with (see
// ErrorPresenter): the endpoint presents errors as the resolvers do.
func (r *Resolver) Presenter() graphql.ErrorPresenterFunc { return r.present }

// RecoverFunc is gqlgen's recover function: it logs the panic with its
// stack, once, and gives the client codes.ErrInternal, which the error presenter
// shows as "internal error" with INTERNAL_SERVER_ERROR. gqlgen calls it for
// panics in resolvers and, over POST and GET, anywhere in the request
// (parsing, extensions), where it answers 500.
func RecoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "graphql: panic", "panic", p, "stack", string(debug.Stack()))
		return codes.ErrInternal
	}
}
