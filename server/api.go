package server

import (
	"log/slog"

	"github.com/99designs/gqlgen/graphql"

	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph"
	"github.com/rewind-dev/rewind/graph/typed"
	"github.com/rewind-dev/rewind/replay"
)

// api is the GraphQL API composed: Rewind's own schema (package graph)
// and, with typed event declarations or federation, the typed API beside
// it (package graph/typed), which reads, publishes and delivers through
// Rewind's own.
type api struct {
	res      *graph.Resolver
	schema   graphql.ExecutableSchema
	examples []string // GraphiQL's tabs of the typed API
}

func newAPI(cfg Config, store *eventstore.Store, hub *replay.Hub, log *slog.Logger) (*api, error) {
	var t *typed.API
	if cfg.Events != nil || cfg.Federation {
		var err error
		if t, err = typed.Build(graph.Sources(), cfg.Events, cfg.Federation); err != nil {
			return nil, err
		}
	}
	gcfg := graph.Config{Store: store, Hub: hub, Logger: log, PublishRate: cfg.PublishRate, PublishBurst: cfg.PublishBurst}
	if t != nil {
		gcfg.Schema, gcfg.Appends = t.Schema(), t.Append
	}
	res := graph.New(gcfg)
	a := &api{res: res, schema: res.Schema(), examples: t.Examples()}
	if t != nil {
		a.schema = typed.Serve(t, a.schema, typed.Deps{
			Source: res.Source(), Cache: res.Cache(),
			MayRead: graph.MayRead, Cursor: res.Cursor, History: res.History, Publish: res.Publish,
			Owner: graph.Owner, Cost: graph.Costs{},
		})
	}
	return a, nil
}

// checkEvents reports whether the typed API of s can be served beside
// Rewind's schema, federated (the most names taken), for a server to
// refuse to start when it cannot.
func checkEvents(s *eventschema.Schema) error {
	if s == nil {
		return nil
	}
	_, err := typed.Build(graph.Sources(), s, true)
	return err
}
