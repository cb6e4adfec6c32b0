package graphiql_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/rewind-dev/rewind/web/graphiql"
)

// Serve GraphiQL beside a GraphQL endpoint at /graphql: the page at
// /graphiql and, under the relative folder it loads from, its embedded
// assets. No network is needed.
func ExamplePage() {
	mux := http.NewServeMux()
	mux.Handle("GET /graphiql", graphiql.Page("/graphql", graphiql.Examples{}))
	mux.Handle("GET /"+graphiql.AssetsPath+"/", http.StripPrefix("/"+graphiql.AssetsPath+"/", graphiql.Assets()))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/graphiql")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"))
	fmt.Println("mentions GraphiQL:", strings.Contains(string(body), "GraphiQL"))
	fmt.Println("names the endpoint:", strings.Contains(string(body), `data-endpoint="/graphql"`))
	// Output:
	// 200 text/html; charset=utf-8
	// mentions GraphiQL: true
	// names the endpoint: true
}
