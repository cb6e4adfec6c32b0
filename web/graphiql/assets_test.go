package graphiql_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rewind-dev/rewind/web/graphiql"
)

func TestPageLoadsEmbeddedAssets(t *testing.T) {
	rec := httptest.NewRecorder()
	graphiql.Page("/graphql").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/graphql", nil))
	body := rec.Body.String()
	for _, want := range []string{`data-endpoint="/graphql"`, `src="graphiql/graphiql.js"`, `href="graphiql/graphiql.css"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "://") {
		t.Errorf("page loads something from another host:\n%s", body)
	}
}

func TestAssets(t *testing.T) {
	h := http.StripPrefix("/graphiql/", graphiql.Assets())
	get := func(path string, header map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, name := range []string{"graphiql.js", "graphiql.css", "editor.worker.js", "json.worker.js", "graphql.worker.js"} {
		zipped := get("/graphiql/"+name, map[string]string{"Accept-Encoding": "gzip, br"})
		if zipped.Code != 200 || zipped.Header().Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s: status %d, encoding %q", name, zipped.Code, zipped.Header().Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(zipped.Body.Bytes()))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		unzipped, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		plain := get("/graphiql/"+name, map[string]string{"Accept-Encoding": "identity"})
		if plain.Header().Get("Content-Encoding") != "" || !bytes.Equal(plain.Body.Bytes(), unzipped) {
			t.Fatalf("%s: the unzipped copy differs from the gzipped one", name)
		}
		ct := plain.Header().Get("Content-Type")
		if !strings.HasPrefix(ct, "text/javascript") && !strings.HasPrefix(ct, "text/css") {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
		if etag := plain.Header().Get("ETag"); etag == "" || get("/graphiql/"+name, map[string]string{"If-None-Match": etag}).Code != http.StatusNotModified {
			t.Errorf("%s: no revalidation with ETag %q", name, etag)
		}
	}
	if code := get("/graphiql/nope.js", nil).Code; code != http.StatusNotFound {
		t.Errorf("missing asset: status %d, want 404", code)
	}
}
