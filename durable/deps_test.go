package durable_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLinksOnlyWhatItUses: a program of another module that imports only
// durable links none of Rewind's GraphQL API (graph), no JWT library and
// no Prometheus: what the library needs is the store, the hub, the way out
// (deliver) and the codes. It asks go list for the packages such a
// program builds, from a scratch module that requires Rewind by a replace.
func TestLinksOnlyWhatItUses(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/app\n\ngo 1.26\n\nrequire github.com/rewind-dev/rewind v0.0.0\n\n" +
			"replace github.com/rewind-dev/rewind => " + root + "\n" +
			"replace github.com/rewind-dev/rewind/client => " + filepath.Join(root, "client") + "\n",
		"main.go": "package main\n\nimport _ \"github.com/rewind-dev/rewind/durable\"\n\nfunc main() {}\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("mod", "tidy")
	deps := run("list", "-deps", ".")
	if !strings.Contains(deps, "github.com/rewind-dev/rewind/deliver\n") {
		t.Fatalf("the program does not link durable's way out; deps:\n%s", deps)
	}
	for _, unwanted := range []string{
		"github.com/rewind-dev/rewind/graph", "github.com/rewind-dev/rewind/server",
		"github.com/golang-jwt/jwt", "github.com/go-jose/go-jose", "github.com/prometheus/",
	} {
		for line := range strings.Lines(deps) {
			if strings.HasPrefix(line, unwanted) {
				t.Errorf("a program importing only durable links %s", strings.TrimSpace(line))
			}
		}
	}
}
