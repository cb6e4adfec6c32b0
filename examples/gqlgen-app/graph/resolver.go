// Package graph is the order service's gqlgen glue: its resolvers store
// and follow order events through Rewind (package durable).
package graph

//go:generate go tool gqlgen generate

import (
	"encoding/json"
	"fmt"

	"github.com/rewind-dev/rewind/durable"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/examples/gqlgen-app/graph/model"
)

// Topic holds every order event.
const Topic = "orders"

// Resolver holds what the resolvers need: Rewind's store and hub.
type Resolver struct {
	Events durable.Source
}

// decodeChange picks the union member by the event's type, which the
// mutations store as the member's GraphQL name.
func decodeChange(ev eventstore.Event) (model.OrderChange, error) {
	switch ev.Type {
	case "OrderPlaced":
		var c model.OrderPlaced
		return c, json.Unmarshal(ev.Data, &c)
	case "OrderShipped":
		var c model.OrderShipped
		return c, json.Unmarshal(ev.Data, &c)
	}
	return nil, fmt.Errorf("unknown order event type %q", ev.Type)
}
