package install

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/proctest"
	"github.com/rewind-dev/rewind/internal/readmetest"
)

// received is the program's last line: the event it published, followed
// back through the server.
var received = regexp.MustCompile(`(?m)^[0-9A-HJKMNP-TV-Z]{26} hello\.go \{"from":"myapp"\}\n\z`)

// TestGoWorkspaceRecipe: go work init with the clone's two modules.
func TestGoWorkspaceRecipe(t *testing.T) {
	root := repoRoot(t)
	out := runRecipe(t, recipe(t, "go-work", root), startServer(t), "GOWORK=")
	if !received.MatchString(out) {
		t.Fatalf("the program printed %q, want its own event last", out)
	}
}

// TestGoReplaceRecipe: replace directives to the clone, then go mod tidy.
func TestGoReplaceRecipe(t *testing.T) {
	root := repoRoot(t)
	dir := t.TempDir()
	out := runRecipeIn(t, dir, recipe(t, "go-replace", root), startServer(t), "GOWORK=off")
	if !received.MatchString(out) {
		t.Fatalf("the program printed %q, want its own event last", out)
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "myapp", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"github.com/rewind-dev/rewind ", "github.com/rewind-dev/rewind/client "} {
		if !strings.Contains(string(gomod), m+"v0.0.0-00010101000000-000000000000") {
			t.Errorf("go.mod does not require %sv0.0.0-00010101000000-000000000000, as the README says:\n%s", m, gomod)
		}
	}
}

// TestGoReleasedModules: scripts/release prepare v0.1.0 on a copy of this
// repository, then the README's recipe for a released version, with the
// Go command fetching both modules from the copy's tags as it would from
// GitHub (git's insteadOf), and go install of the server at that version
// (which the Go command refuses if the module's go.mod replaces). And
// scripts/release publish --dry-run says what it would push and build.
func TestGoReleasedModules(t *testing.T) {
	const version = "v0.1.0"
	repo := copyRepository(t, repoRoot(t))
	git := func(args ...string) string {
		t.Helper()
		return run(t, repo, nil, "git", args...)
	}
	before := strings.TrimSpace(git("rev-parse", "HEAD"))
	run(t, repo, nil, "scripts/release", "prepare", version)
	// The client's tag on the tree as it was, the release commit after it,
	// and a commit back to development.
	for ref, want := range map[string]string{"client/" + version: before, version: "HEAD~1"} {
		if got, want := git("rev-parse", ref+"^{commit}"), git("rev-parse", want); got != want {
			t.Errorf("tag %s is on %s, want %s", ref, got, want)
		}
	}
	if st := git("status", "--porcelain"); st != "" {
		t.Fatalf("the release left changes:\n%s", st)
	}
	gomod := git("show", version+":go.mod")
	if !strings.Contains(gomod, "\tgithub.com/rewind-dev/rewind/client "+version+"\n") || strings.Contains(gomod, "replace") {
		t.Fatalf("go.mod at %s does not require the client at %s without a replace:\n%s", version, version, gomod)
	}
	if dev := git("show", "HEAD:go.mod"); !strings.Contains(dev, "replace github.com/rewind-dev/rewind/client => ./client") {
		t.Fatalf("go.mod after the release does not replace the client with ./client again:\n%s", dev)
	}
	if pkg := git("show", version+":clients/js/package.json"); !strings.Contains(pkg, `"version": "0.1.0"`) {
		t.Fatalf("clients/js/package.json at %s:\n%s", version, pkg)
	}

	plan := run(t, repo, nil, "scripts/release", "publish", "--dry-run", version)
	branch := strings.TrimSpace(git("symbolic-ref", "--short", "HEAD"))
	for _, want := range []string{
		"+ git push origin " + branch + " client/" + version + " " + version + "\n",
		"/rewind-" + version + "/clients/js --access public\n",
		"+ git archive --format=tar " + version + " | docker build -t ghcr.io/rewind-dev/rewind:0.1.0 -t ghcr.io/rewind-dev/rewind:latest --label org.opencontainers.image.version=0.1.0",
		"+ docker push ghcr.io/rewind-dev/rewind:0.1.0\n",
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("publish --dry-run does not say %q:\n%s", want, plan)
		}
	}

	// The Go command fetches github.com/rewind-dev/rewind with git: git
	// reads it from the copy. Modules are cached in a folder of this test's;
	// the others come from this machine's module cache, else the proxy.
	home := t.TempDir()
	gitconfig := filepath.Join(home, "gitconfig")
	if err := os.WriteFile(gitconfig, fmt.Appendf(nil, "[url \"file://%s\"]\n\tinsteadOf = https://github.com/rewind-dev/rewind\n", repo), 0o600); err != nil {
		t.Fatal(err)
	}
	cache := strings.TrimSpace(run(t, repo, nil, "go", "env", "GOMODCACHE"))
	proxy := strings.TrimSpace(run(t, repo, nil, "go", "env", "GOPROXY"))
	env := []string{
		"GOWORK=off", "GIT_CONFIG_GLOBAL=" + gitconfig, "GIT_CONFIG_NOSYSTEM=1",
		"GOPRIVATE=github.com/rewind-dev", "GOMODCACHE=" + filepath.Join(home, "mod"), "GOFLAGS=-modcacherw",
		"GOPROXY=file://" + filepath.Join(cache, "cache", "download") + "," + proxy,
	}
	dir := t.TempDir()
	out := runRecipeIn(t, dir, recipe(t, "go-release", ""), startServer(t), env...)
	if !received.MatchString(out) {
		t.Fatalf("the program printed %q, want its own event last", out)
	}
	appMod, err := os.ReadFile(filepath.Join(dir, "myapp", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"github.com/rewind-dev/rewind ", "github.com/rewind-dev/rewind/client "} {
		if !strings.Contains(string(appMod), m+version) {
			t.Errorf("the program's go.mod does not require %s%s:\n%s", m, version, appMod)
		}
	}
	run(t, dir, env, "go", "install", "-n", "github.com/rewind-dev/rewind/cmd/server@"+version)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func startServer(t *testing.T) *proctest.Rewind {
	t.Helper()
	return proctest.StartRewind(t, "rewind", "DATA_DIR="+t.TempDir())
}

// recipe is the README's shell block name, with its REWIND= line pointing
// at clone.
func recipe(t *testing.T, name, clone string) string {
	t.Helper()
	script := readmetest.Block(t, filepath.Join(repoRoot(t), "README.md"), name)
	if clone == "" {
		return script
	}
	line := regexp.MustCompile(`(?m)^REWIND=\S+`)
	if !line.MatchString(script) {
		t.Fatalf("the README's %s recipe sets no REWIND=:\n%s", name, script)
	}
	return line.ReplaceAllLiteralString(script, "REWIND="+clone)
}

func runRecipe(t *testing.T, script string, srv *proctest.Rewind, env ...string) string {
	t.Helper()
	return runRecipeIn(t, t.TempDir(), script, srv, env...)
}

// runRecipeIn runs script with bash in dir, where myapp/main.go is the
// README's program, against srv, and returns what the program printed.
func runRecipeIn(t *testing.T, dir, script string, srv *proctest.Rewind, env ...string) string {
	t.Helper()
	app := filepath.Join(dir, "myapp")
	if err := os.MkdirAll(app, 0o755); err != nil {
		t.Fatal(err)
	}
	main := readmetest.Block(t, filepath.Join(repoRoot(t), "README.md"), "go-main")
	if err := os.WriteFile(filepath.Join(app, "main.go"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	return run(t, dir, append(env, "REWIND_URL="+srv.URL()), "bash", "-euo", "pipefail", "-c", script)
}

// run runs a command in dir with env added and returns its standard
// output; it fails the test with everything the command printed.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s\n%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// copyRepository copies the files of root that git would commit (tracked,
// or new and not ignored: the tree as it is now) into a new repository
// with one commit.
func copyRepository(t *testing.T, root string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "rewind")
	files := run(t, root, nil, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	for _, f := range strings.Split(strings.TrimRight(files, "\x00"), "\x00") {
		src := filepath.Join(root, f)
		info, err := os.Lstat(src)
		if err != nil || !info.Mode().IsRegular() {
			continue // deleted from the tree, or not a file
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, info.Mode().Perm()|fs.FileMode(0o200)); err != nil {
			t.Fatal(err)
		}
	}
	// The release script commits too.
	t.Setenv("GIT_AUTHOR_NAME", "release test")
	t.Setenv("GIT_AUTHOR_EMAIL", "test@example.com")
	t.Setenv("GIT_COMMITTER_NAME", "release test")
	t.Setenv("GIT_COMMITTER_EMAIL", "test@example.com")
	run(t, dst, nil, "git", "init", "-q", "-b", "main")
	run(t, dst, nil, "git", "add", "-A")
	run(t, dst, nil, "git", "commit", "-q", "-m", "the tree under test")
	return dst
}
