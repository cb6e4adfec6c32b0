package rewindjs_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/proctest"
	"github.com/rewind-dev/rewind/internal/readmetest"
)

// TestPackContents: the tarball npm publish would upload (npm pack
// --dry-run) holds exactly the built package: package.json, README.md and,
// for each source file, its JavaScript, declarations and source map (with
// the source inside) — no sources, tests or configuration, and no stale
// file left in dist/ by an older build (prepack rebuilds it from clean).
// Every entry point package.json names is in it.
func TestPackContents(t *testing.T) {
	dir := prepare(t)
	if err := os.WriteFile(filepath.Join(dir, "dist", "stale.js"), []byte("// from an older build\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("npm", "pack", "--dry-run", "--json")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("npm pack --dry-run: %v\n%s", err, out)
	}
	var packs []struct {
		Name, Version string
		Files         []struct{ Path string }
	}
	if err := json.Unmarshal(out, &packs); err != nil || len(packs) != 1 {
		t.Fatalf("npm pack --json printed %d packages (%v):\n%s", len(packs), err, out)
	}
	var got []string
	for _, f := range packs[0].Files {
		got = append(got, f.Path)
	}
	sources, err := filepath.Glob(filepath.Join(dir, "src", "*.ts"))
	if err != nil || len(sources) == 0 {
		t.Fatalf("no src/*.ts (%v)", err)
	}
	want := []string{"README.md", "package.json"}
	for _, src := range sources {
		base := strings.TrimSuffix(filepath.Base(src), ".ts")
		want = append(want, "dist/"+base+".js", "dist/"+base+".d.ts", "dist/"+base+".js.map")
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("the tarball would hold\n%v\nwant exactly\n%v", got, want)
	}

	var pkg struct {
		Name          string
		Main, Types   string
		Exports       map[string]map[string]string
		PublishConfig struct{ Access string }
		Scripts       map[string]string
	}
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil || json.Unmarshal(b, &pkg) != nil {
		t.Fatalf("package.json: %v", err)
	}
	entries := []string{pkg.Main, pkg.Types}
	for _, e := range pkg.Exports {
		entries = append(entries, e["types"], e["default"])
	}
	for _, e := range entries {
		if !slices.Contains(got, strings.TrimPrefix(e, "./")) {
			t.Errorf("package.json names %q, which the tarball lacks", e)
		}
	}
	if pkg.PublishConfig.Access != "public" {
		t.Errorf("publishConfig.access %q: a scoped package is private on npm unless public", pkg.PublishConfig.Access)
	}
	// The source maps carry their sources, which the tarball does not.
	m, err := os.ReadFile(filepath.Join(dir, "dist", "client.js.map"))
	if err != nil || !strings.Contains(string(m), `"sourcesContent"`) {
		t.Errorf("dist/client.js.map has no sourcesContent (%v): debuggers would look for src/, which is not shipped", err)
	}
}

// TestNPMRecipe runs the README's npm recipe ("Use it from your
// project") as it is, on a copy of this package: npm ci and npm pack there,
// then a new project outside the repository installs the tarball and runs
// the README's smoke.mjs against a real server, which must receive the
// event it published.
func TestNPMRecipe(t *testing.T) {
	dir := prepare(t)
	clone := filepath.Join(t.TempDir(), "rewind")
	for _, f := range []string{"package.json", "package-lock.json", "tsconfig.json", "README.md"} {
		copyFile(t, filepath.Join(dir, f), filepath.Join(clone, "clients", "js", f))
	}
	sources, _ := filepath.Glob(filepath.Join(dir, "src", "*.ts"))
	for _, src := range sources {
		copyFile(t, src, filepath.Join(clone, "clients", "js", "src", filepath.Base(src)))
	}
	readme := filepath.Join("..", "..", "README.md")
	script := readmetest.Block(t, readme, "npm")
	line := regexp.MustCompile(`(?m)^REWIND=\S+`)
	if !line.MatchString(script) {
		t.Fatalf("the README's npm recipe sets no REWIND=:\n%s", script)
	}
	script = line.ReplaceAllLiteralString(script, "REWIND="+clone)
	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, "myapp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "myapp", "smoke.mjs"), []byte(readmetest.Block(t, readme, "npm-smoke")), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := proctest.StartRewind(t, "rewind", "DATA_DIR="+t.TempDir())
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "REWIND_URL="+srv.URL())
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the npm recipe: %v\n%s\n%s", err, stdout.String(), stderr.String())
		}
	case <-time.After(5 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("the npm recipe did not end within 5 minutes:\n%s\n%s", stdout.String(), stderr.String())
	}
	if !regexp.MustCompile(`(?m)^[0-9A-HJKMNP-TV-Z]{26} hello\.js \{"from":"myapp"\}\n\z`).MatchString(stdout.String()) {
		t.Fatalf("smoke.mjs printed %q, want its own event last", stdout.String())
	}
	installed, err := os.ReadFile(filepath.Join(work, "myapp", "node_modules", "@rewind", "client", "package.json"))
	if err != nil || !strings.Contains(string(installed), `"name": "@rewind/client"`) {
		t.Fatalf("@rewind/client is not installed from the tarball (%v)", err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
