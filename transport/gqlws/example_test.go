package gqlws_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rewind-dev/rewind/transport/gqlws"
)

// tickSchema stands for your generated gqlgen schema: any
// graphql.ExecutableSchema works. It answers every operation as its
// subscription ticks: 1, 2, and the end.
func tickSchema() graphql.ExecutableSchema {
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: `
		type Query { hello: String }
		type Subscription { ticks: Int }`})
	return &graphql.ExecutableSchemaMock{
		SchemaFunc:     func() *ast.Schema { return schema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) { return 0, false },
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			n := 0
			return func(context.Context) *graphql.Response {
				if n++; n > 2 {
					return nil
				}
				return &graphql.Response{Data: json.RawMessage(fmt.Sprintf(`{"ticks":%d}`, n))}
			}
		},
	}
}

// A gqlgen server takes gqlws in place of gqlgen's own transport.Websocket:
// one AddTransport, and clients of either subprotocol get the close codes,
// init timeout and limits their specifications name.
func Example() {
	srv := handler.New(tickSchema())
	srv.AddTransport(gqlws.New(gqlws.Config{MaxSubscriptions: 50}))
	srv.AddTransport(transport.POST{})
	ts := httptest.NewServer(srv)
	defer ts.Close()

	// A graphql-transport-ws client, as the graphql-ws npm package speaks it.
	dialer := websocket.Dialer{Subprotocols: []string{gqlws.TransportWS}}
	ws, _, err := dialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ws.Close()
	_ = ws.WriteJSON(map[string]any{"type": "connection_init"})
	_ = ws.WriteJSON(map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{"query": "subscription { ticks }"}})
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(string(msg))
		if strings.Contains(string(msg), `"complete"`) {
			return
		}
	}
	// Output:
	// {"type":"connection_ack"}
	// {"type":"next","id":"1","payload":{"data":{"ticks":1}}}
	// {"type":"next","id":"1","payload":{"data":{"ticks":2}}}
	// {"type":"complete","id":"1"}
}
