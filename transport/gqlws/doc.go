// Package gqlws serves GraphQL over WebSocket for gqlgen's executor on
// gorilla/websocket, following both subprotocols as their specifications
// say: graphql-transport-ws (enisdenjo/graphql-ws PROTOCOL.md) and the
// legacy graphql-ws (apollographql/subscriptions-transport-ws PROTOCOL.md).
// Clients decide whether to reconnect from the close codes, so every rule
// closes with the code its specification names; see README's table. A
// panic on client input ends that operation with an INTERNAL_SERVER_ERROR
// error, or, outside any operation, that connection with 1011: never the
// process.
//
// It is public API and works with any gqlgen ExecutableSchema: in place of
// gqlgen's own transport.Websocket, add
//
//	srv.AddTransport(gqlws.New(gqlws.Config{}))
//
// to a handler.Server. It needs gqlgen, gqlparser and gorilla/websocket
// and nothing else of Rewind's but transport (the delivery contract, which
// every operation's context carries: Delivery for all, StreamSink for
// subscriptions, so that a resolver may write its results natively) and
// transport/connlimit (connection limits shared with transport/sse).
//
// On Linux an idle connection costs no goroutine and no buffer: the
// transport polls sockets for readiness (epoll, one-shot) and reads on a
// goroutine that ends once the buffer is empty. A hijacked net.Conn is
// polled when it implements syscall.Conn, as *net.TCPConn does: a wrapper
// that reads nothing itself (one that counts connections, say) may offer
// its socket's SyscallConn to keep this; others, TLS among them, and other
// systems get a reading goroutine per connection.
//
// Stable: Config's fields and their defaults, New and Transport's
// methods, OriginChecker, the close codes, the subprotocol names and
// CodeInternal; what goes over the wire is the specifications'. New
// Config fields keep today's behaviour at their zero value.
package gqlws
