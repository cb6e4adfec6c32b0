package sse_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rewind-dev/rewind/transport/sse"
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

// A gqlgen server takes sse in place of gqlgen's own transport.SSE, added
// before POST and GET so that it serves the requests that accept
// text/event-stream: graphql-sse clients and browsers' EventSource.
func Example() {
	srv := handler.New(tickSchema())
	srv.AddTransport(sse.New(sse.Config{}))
	srv.AddTransport(transport.POST{})
	ts := httptest.NewServer(srv)
	defer ts.Close()

	req, _ := http.NewRequest(http.MethodPost, ts.URL, strings.NewReader(`{"query":"subscription { ticks }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if lines.Text() != "" {
			fmt.Println(lines.Text())
		}
	}
	// Output:
	// retry: 1000
	// event: next
	// data: {"data":{"ticks":1}}
	// event: next
	// data: {"data":{"ticks":2}}
	// event: complete
	// data:
}
