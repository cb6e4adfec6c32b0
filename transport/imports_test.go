package transport_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports: the transports are for any gqlgen schema, so what they
// import, tests aside, is the standard library, gqlgen, gqlparser,
// gorilla/websocket and one another, and nothing of Rewind's schema,
// storage, replay or auth.
func TestImports(t *testing.T) {
	allowed := []string{
		"github.com/rewind-dev/rewind/transport",
		"github.com/99designs/gqlgen",
		"github.com/vektah/gqlparser/v2",
		"github.com/gorilla/websocket",
	}
	files := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		files++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, spec := range f.Imports {
			imp, _ := strconv.Unquote(spec.Path.Value)
			if first, _, _ := strings.Cut(imp, "/"); !strings.Contains(first, ".") {
				continue // the standard library
			}
			ok := false
			for _, a := range allowed {
				ok = ok || imp == a || strings.HasPrefix(imp, a+"/")
			}
			if !ok {
				t.Errorf("%s imports %s", path, imp)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Fatalf("read %d files: not the transports' sources", files)
	}
}
