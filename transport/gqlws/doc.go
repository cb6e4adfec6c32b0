// Package gqlws serves GraphQL over WebSocket for gqlgen's executor on
// gorilla/websocket, following both subprotocols as their specifications
// say: graphql-transport-ws (enisdenjo/graphql-ws PROTOCOL.md) and the
// legacy graphql-ws (apollographql/subscriptions-transport-ws PROTOCOL.md).
// Clients decide whether to reconnect from the close codes, so every rule
// closes with the code its specification names; see README's table. A
// panic on client input ends that operation with an INTERNAL_SERVER_ERROR
// error, or, outside any operation, that connection with 1011: never the
// process.
package gqlws
