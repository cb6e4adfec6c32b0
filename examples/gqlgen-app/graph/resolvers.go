package graph

import (
	"context"

	"github.com/rewind-dev/rewind/durable"
	"github.com/rewind-dev/rewind/examples/gqlgen-app/graph/model"
)

// PlaceOrder is the resolver for the placeOrder field.
func (r *mutationResolver) PlaceOrder(ctx context.Context, orderID string, total float64) (string, error) {
	ev, err := durable.Publish(ctx, r.Events.Store, Topic, "OrderPlaced", model.OrderPlaced{OrderID: orderID, Total: total})
	return ev.ID.String(), err
}

// ShipOrder is the resolver for the shipOrder field.
func (r *mutationResolver) ShipOrder(ctx context.Context, orderID string, carrier string) (string, error) {
	ev, err := durable.Publish(ctx, r.Events.Store, Topic, "OrderShipped", model.OrderShipped{OrderID: orderID, Carrier: carrier})
	return ev.ID.String(), err
}

// Hello is the resolver for the hello field.
func (r *queryResolver) Hello(ctx context.Context) (string, error) {
	return "orders", nil
}

// OrderEvents is the resolver for the orderEvents field.
func (r *subscriptionResolver) OrderEvents(ctx context.Context, afterID *string, last *int) (<-chan *model.OrderEvent, error) {
	return durable.Subscribe(ctx, r.Events,
		durable.Request{Topics: []string{Topic}, AfterID: afterID, Last: last},
		func(e durable.Event[model.OrderChange]) *model.OrderEvent {
			return &model.OrderEvent{ID: e.ID, Live: e.Live, Change: e.Data}
		},
		durable.Decode(decodeChange))
}

// Mutation returns MutationResolver implementation.
func (r *Resolver) Mutation() MutationResolver { return &mutationResolver{r} }

// Query returns QueryResolver implementation.
func (r *Resolver) Query() QueryResolver { return &queryResolver{r} }

// Subscription returns SubscriptionResolver implementation.
func (r *Resolver) Subscription() SubscriptionResolver { return &subscriptionResolver{r} }

type (
	mutationResolver     struct{ *Resolver }
	queryResolver        struct{ *Resolver }
	subscriptionResolver struct{ *Resolver }
)
