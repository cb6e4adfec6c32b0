package graphiql_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rewind-dev/rewind/internal/proctest"
	"github.com/rewind-dev/rewind/web/graphiql"
)

func TestPageLoadsEmbeddedAssets(t *testing.T) {
	rec := httptest.NewRecorder()
	graphiql.Page("/graphql", graphiql.Examples{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/graphql", nil))
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

// TestPageExamples: the page carries the topics the example tabs use and
// the server's own tabs, escaped for the attribute.
func TestPageExamples(t *testing.T) {
	for _, tc := range []struct {
		ex   graphiql.Examples
		want []string
	}{
		{graphiql.Examples{}, []string{`data-topics="[]"`, `data-tabs="[]"`}},
		{graphiql.Examples{Topics: []string{"payments.*", "refunds.>"}, Tabs: []string{`subscription { x(a: "<b>") { id } }`}},
			[]string{`data-topics="[&#34;payments.*&#34;,&#34;refunds.\u003e&#34;]"`, `data-tabs="[{&#34;query&#34;:&#34;subscription { x(a: \&#34;\u003cb\u003e\&#34;) { id } }&#34;}]"`}},
	} {
		rec := httptest.NewRecorder()
		graphiql.Page("/graphql", tc.ex).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/graphql", nil))
		for _, want := range tc.want {
			if !strings.Contains(rec.Body.String(), want) {
				t.Errorf("%+v: the page lacks %s:\n%s", tc.ex, want, rec.Body)
			}
		}
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

// TestDistIsBuiltFromSources: the committed dist/ is what build.mjs makes
// of src/ with the pinned packages, byte for byte (esbuild's output and
// gzip at a fixed level are deterministic): a change to src/ without a
// rebuild, or a hand-edited dist/, fails here. The build runs in a copy,
// so that the tree is left as it is.
func TestDistIsBuiltFromSources(t *testing.T) {
	proctest.NPMInstall(t, ".")
	dir := t.TempDir()
	for _, name := range []string{"build.mjs", "package.json"} {
		copyFile(t, name, filepath.Join(dir, name))
	}
	err := filepath.WalkDir("src", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		copyFile(t, p, filepath.Join(dir, p))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	modules, err := filepath.Abs("node_modules")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "build.mjs")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node build.mjs: %v\n%s", err, out)
	}
	built, committed := listDir(t, filepath.Join(dir, "dist")), listDir(t, "dist")
	if !slices.Equal(built, committed) {
		t.Fatalf("the build makes %v, dist/ holds %v: rebuild with npm ci && npm run build", built, committed)
	}
	for _, name := range built {
		a, errA := os.ReadFile(filepath.Join(dir, "dist", name))
		b, errB := os.ReadFile(filepath.Join("dist", name))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("dist/%s differs from a build of src/ (%v %v): rebuild with npm ci && npm run build, and commit dist/", name, errA, errB)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(to), 0o755)
	}
	if err == nil {
		err = os.WriteFile(to, b, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}
