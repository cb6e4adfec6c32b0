// Package graphiql serves Rewind's GraphiQL from assets embedded in the
// binary: it works with no network, runs subscriptions over
// graphql-transport-ws, and opens with example operations. The assets are
// built from package.json and src/ by `npm ci && npm run build`.
package graphiql

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed dist
var dist embed.FS

// Examples are what the page opens with besides GraphiQL itself.
type Examples struct {
	// Topics are the topic patterns Rewind's example tabs (Follow,
	// Publish, History) use: the ones a server's typed events are declared
	// on, say. Empty: orders.*, with orders.eu as the topic published to.
	Topics []string
	// Tabs are more operations, one tab each, after Rewind's (the
	// server's typed events, say).
	Tabs []string
}

// Page returns the GraphiQL page for the GraphQL endpoint at endpoint (a
// path such as /graphql). Its assets are loaded relative to the page, from
// the folder "graphiql/" beside it: serve Assets there. The page opens
// with Rewind's example operations on ex.Topics, then with ex.Tabs.
func Page(endpoint string, ex Examples) http.Handler {
	extra := make([]map[string]string, len(ex.Tabs))
	for i, q := range ex.Tabs {
		extra[i] = map[string]string{"query": q}
	}
	tabs, err := json.Marshal(extra)
	if err != nil {
		panic(err) // strings always marshal
	}
	topics, err := json.Marshal(append([]string{}, ex.Topics...))
	if err != nil {
		panic(err)
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, struct{ Endpoint, Assets, Tabs, Topics string }{endpoint, AssetsPath, string(tabs), string(topics)}); err != nil {
		panic(err) // the template is a constant
	}
	body := buf.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(body)
	})
}

// AssetsPath is the folder, beside the endpoint, that the page loads its
// assets from (a relative URL, so that the page works behind a path prefix).
const AssetsPath = "graphiql"

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rewind · GraphiQL</title>
<link rel="stylesheet" href="{{.Assets}}/graphiql.css">
<style>body { margin: 0; } #graphiql { height: 100dvh; }</style>
</head>
<body>
<div id="graphiql" data-endpoint="{{.Endpoint}}" data-topics="{{.Topics}}" data-tabs="{{.Tabs}}"></div>
<script type="module" src="{{.Assets}}/graphiql.js"></script>
</body>
</html>
`))

// Assets serves the files the page loads; mount it with the prefix
// stripped (http.StripPrefix("/graphiql/", Assets())). The files are
// stored gzipped and sent as they are to clients that accept gzip, which
// every browser does; others get them unzipped.
func Assets() http.Handler {
	files := map[string]asset{}
	err := fs.WalkDir(dist, "dist", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := dist.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "dist/")
		a := asset{data: data}
		if n, ok := strings.CutSuffix(name, ".gz"); ok {
			name, a.gzipped = n, true
		}
		sum := sha256.Sum256(data)
		a.etag = `"` + hex.EncodeToString(sum[:12]) + `"`
		a.contentType = mime.TypeByExtension(path.Ext(name))
		if a.contentType == "" {
			a.contentType = "application/octet-stream"
		}
		files[name] = a
		return nil
	})
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		a, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		a.serve(w, r)
	})
}

type asset struct {
	data        []byte
	gzipped     bool
	etag        string
	contentType string
}

func (a asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache") // revalidate: cheap with the ETag, and never stale after an upgrade
	h.Add("Vary", "Accept-Encoding")
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if !a.gzipped {
		_, _ = w.Write(a.data)
		return
	}
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		_, _ = w.Write(a.data)
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(a.data))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = io.Copy(w, zr)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}
