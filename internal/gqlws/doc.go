// Package gqlws serves GraphQL over WebSocket for gqlgen's executor on
// gorilla/websocket, following both subprotocols as their specifications
// say: graphql-transport-ws (enisdenjo/graphql-ws PROTOCOL.md) and the
// legacy graphql-ws (apollographql/subscriptions-transport-ws PROTOCOL.md).
// Clients decide whether to reconnect from the close codes, so every rule
// closes with the code its specification names; see README's table.
package gqlws
