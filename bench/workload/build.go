package workload

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

// ModuleRoot finds the repository's root: the folder of the go.mod that
// declares Rewind's module, from the working directory upwards.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/rewind-dev/rewind\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the Rewind repository (no go.mod of github.com/rewind-dev/rewind above the working directory)")
		}
		dir = parent
	}
}

// majorVersion matches a module path's major version suffix (v2, v3...).
var majorVersion = regexp.MustCompile(`^v[0-9]+$`)

// Export writes the tree of git revision rev of the repository at root
// into dir (git archive), so that a run measures committed code while
// others edit the working tree. It returns the full commit hash.
func Export(ctx context.Context, root, rev, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--verify", rev+"^{commit}").Output()
	if err != nil {
		return "", fmt.Errorf("git rev-parse %s: %w", rev, err)
	}
	hash := strings.TrimSpace(string(out))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", root, hash, dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("export %s: %w\n%s", rev, err, b)
	}
	return hash, nil
}

// Head describes the working tree's commit, and whether it has changes.
func Head(ctx context.Context, root string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	h := strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		h += " with uncommitted changes"
	}
	return h
}

// Build compiles pkg (e.g. ./cmd/server, or a dependency of the module
// such as github.com/nats-io/nats-server/v2) of the module at root into
// dir, named after the package's last element that is not a major version.
func Build(ctx context.Context, root, pkg, dir string) (string, error) {
	name := filepath.Base(pkg)
	if majorVersion.MatchString(name) {
		name = filepath.Base(filepath.Dir(pkg))
	}
	out := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// NodeReady checks that the Node peer can run: node on the PATH and the
// folder's node_modules installed from its package-lock.json.
func NodeReady(dir string) error {
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("node is not installed: %w", err)
	}
	for _, m := range []string{"graphql", "graphql-ws", "ws", "graphql-subscriptions"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", m, "package.json")); err != nil {
			return fmt.Errorf("the Node peer's dependencies are missing (%s): run npm ci --prefix %s", m, dir)
		}
	}
	return nil
}

// NpmCI installs the Node peer's dependencies from its package-lock.json.
func NpmCI(ctx context.Context, dir string) error {
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in %s: %w\n%s", dir, err, b)
	}
	return nil
}

// RaiseFileLimit raises this process's open-file limit to its hard limit;
// child processes inherit it. It returns the new soft limit.
func RaiseFileLimit() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	r.Cur = r.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	return r.Cur, nil
}
