package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	natsserver "github.com/nats-io/nats-server/v2/server"
)

// serverShutdownBound is what server.Run gives requests still running
// after the shutdown delay, before it closes NATS.
const serverShutdownBound = 10 * time.Second

// checkSafeByDefault checks what makes docker-compose.yml fit to run as
// it is on a machine others can reach: tokens required, nothing published
// beyond loopback but Caddy's TLS, images pinned to what the tests run,
// a drain long enough for Caddy's health checks, and a disk bound on
// JetStream that Rewind's own retention stays under.
func checkSafeByDefault(t *testing.T, root string, project *types.Project) {
	t.Helper()
	caddyfile, err := os.ReadFile(filepath.Join(root, "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	lb := project.Services["lb"]
	drain := caddyDrain(t, string(caddyfile))

	var jetStreamMax int64 = -1
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("nats-%d", i)
		opts := natsOptions(t, project.Services[name])
		if !opts.JetStream || opts.StoreDir != "/data" {
			t.Errorf("%s: JetStream %v in %q, want on, in its volume /data", name, opts.JetStream, opts.StoreDir)
		}
		if opts.JetStreamMaxStore <= 0 || opts.JetStreamMaxMemory <= 0 {
			t.Errorf("%s: JetStream's max_file_store %d and max_memory_store %d must both be set: unset, JetStream takes 75%% of the disk",
				name, opts.JetStreamMaxStore, opts.JetStreamMaxMemory)
		}
		if jetStreamMax < 0 || opts.JetStreamMaxStore < jetStreamMax {
			jetStreamMax = opts.JetStreamMaxStore
		}
	}

	for _, name := range []string{"rewind-1", "rewind-2"} {
		svc := project.Services[name]
		cfg := parseEnv(t, svc.Environment)
		// Tokens are required, and the key comes from a Docker secret.
		if cfg.authMode != "jwt" {
			t.Errorf("%s: AUTH=%q, want jwt: with none, anyone who reaches the port may read and publish everything", name, cfg.authMode)
		}
		secret, ok := strings.CutPrefix(cfg.jwt.SecretFile, "/run/secrets/")
		if !ok || !slices.ContainsFunc(svc.Secrets, func(s types.ServiceSecretConfig) bool { return s.Source == secret }) {
			t.Errorf("%s: JWT_SECRET_FILE %q is not one of its Docker secrets %+v", name, cfg.jwt.SecretFile, svc.Secrets)
		} else if def, ok := project.Secrets[secret]; !ok || def.File == "" {
			t.Errorf("secret %s is not defined by a file: %+v", secret, def)
		} else if rel, err := filepath.Rel(root, def.File); err != nil || !ignoredByGit(t, root, rel) {
			t.Errorf("the JWT key %s is not ignored by .gitignore: it could be committed", def.File)
		} else if dockerignore, err := os.ReadFile(filepath.Join(root, ".dockerignore")); err != nil ||
			!slices.Contains(strings.Fields(string(dockerignore)), strings.SplitN(filepath.ToSlash(rel), "/", 2)[0]+"/") {
			t.Errorf("the JWT key's folder is not in .dockerignore (%v): docker build would send it to the builder", err)
		}
		// Draining outlasts Caddy's checks, and Docker waits for the drain.
		if cfg.server.ShutdownDelay < drain {
			t.Errorf("%s: SHUTDOWN_DELAY %v, want at least %v: Caddy may still send new clients to an instance that is closing them", name, cfg.server.ShutdownDelay, drain)
		}
		if svc.StopGracePeriod == nil || time.Duration(*svc.StopGracePeriod) < cfg.server.ShutdownDelay+serverShutdownBound {
			t.Errorf("%s: stop_grace_period %v, want at least SHUTDOWN_DELAY (%v) + %v, or Docker kills it mid-drain", name, svc.StopGracePeriod, cfg.server.ShutdownDelay, serverShutdownBound)
		}
		// Retention removes old events before JetStream's disk bound
		// refuses new ones (each node holds a whole replica).
		if cfg.server.Store.MaxBytes <= 0 || cfg.server.Store.MaxBytes > jetStreamMax*9/10 {
			t.Errorf("%s: MAX_BYTES %d, want set and at most 90%% of JetStream's max_file_store (%d)", name, cfg.server.Store.MaxBytes, jetStreamMax)
		}
		if want := "https://" + value(lb.Environment, "REWIND_DOMAIN"); !slices.Contains(cfg.server.WebSocket.AllowedOrigins, want) {
			t.Errorf("%s: ALLOWED_ORIGINS %q lacks %s, where Caddy serves TLS", name, cfg.server.WebSocket.AllowedOrigins, want)
		}
	}

	// Nothing is published beyond this machine's loopback but Caddy's TLS.
	for _, svc := range project.Services {
		for _, p := range svc.Ports {
			if p.HostIP == "127.0.0.1" || (svc.Name == "lb" && p.Target == 443) {
				continue
			}
			t.Errorf("%s publishes %d on %q: only loopback, or Caddy's TLS on 443", svc.Name, p.Target, p.HostIP)
		}
	}
	if !slices.ContainsFunc(lb.Ports, func(p types.ServicePortConfig) bool { return p.HostIP == "127.0.0.1" && p.Target == 8080 }) {
		t.Errorf("lb does not publish 8080 on 127.0.0.1: %+v", lb.Ports)
	}
	for _, want := range []string{":8080 {", "{$REWIND_DOMAIN:localhost} {", "respond /metrics 404"} {
		if !strings.Contains(string(caddyfile), want) {
			t.Errorf("Caddyfile lacks %q (plain HTTP for loopback, TLS for the domain, metrics kept inside)", want)
		}
	}

	// Images: NATS as the tests run it, Caddy at one release, Go as go.mod.
	nats := "nats:" + strings.TrimPrefix(moduleVersion(t, "github.com/nats-io/nats-server/v2"), "v") + "-alpine"
	for i := 1; i <= 3; i++ {
		if img := project.Services[fmt.Sprintf("nats-%d", i)].Image; img != nats {
			t.Errorf("nats-%d runs %s, want %s: the nats-server the tests use (go.mod)", i, img, nats)
		}
	}
	if !regexp.MustCompile(`^caddy:\d+\.\d+\.\d+(-alpine)?$`).MatchString(lb.Image) {
		t.Errorf("lb runs %s, want a release pinned as caddy:X.Y.Z", lb.Image)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if goVersion == nil || !strings.Contains(string(dockerfile), "FROM golang:"+string(goVersion[1])+" ") {
		t.Errorf("Dockerfile does not build with golang:%s, go.mod's Go", goVersion[1])
	}
}

// caddyDrain is how long Caddy may go on sending new clients to an
// instance after its /readyz turned 503: up to an interval before the
// next check, plus that check's timeout.
func caddyDrain(t *testing.T, caddyfile string) time.Duration {
	t.Helper()
	setting := func(name string) time.Duration {
		m := regexp.MustCompile(`(?m)^\s*` + name + `\s+(\S+)\s*$`).FindStringSubmatch(caddyfile)
		if m == nil {
			t.Fatalf("Caddyfile has no %s", name)
		}
		d, err := time.ParseDuration(m[1])
		if err != nil {
			t.Fatalf("Caddyfile: %s %s: %v", name, m[1], err)
		}
		return d
	}
	if strings.Contains(caddyfile, "health_fails") {
		t.Fatal("Caddyfile sets health_fails: count it in the drain this test checks")
	}
	return setting("health_interval") + setting("health_timeout")
}

// natsOptions parses a NATS service's command line as nats-server does,
// with its configuration file read from the repository file mounted there.
func natsOptions(t *testing.T, svc types.ServiceConfig) *natsserver.Options {
	t.Helper()
	args := slices.Clone([]string(svc.Command))
	if i := slices.Index(args, "--config"); i >= 0 && i+1 < len(args) {
		j := slices.IndexFunc(svc.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == args[i+1] })
		if j < 0 {
			t.Fatalf("%s: --config %s is not mounted: %+v", svc.Name, args[i+1], svc.Volumes)
		}
		args[i+1] = svc.Volumes[j].Source
	}
	fs := flag.NewFlagSet("nats-server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	noop := func() {}
	opts, err := natsserver.ConfigureOptions(fs, args, noop, noop, noop)
	if err != nil {
		t.Fatalf("%s: nats-server refuses %q: %v", svc.Name, svc.Command, err)
	}
	return opts
}

// moduleVersion is the version of module path linked into this test.
func moduleVersion(t *testing.T, path string) string {
	t.Helper()
	info, ok := debug.ReadBuildInfo()
	if ok {
		for _, m := range info.Deps {
			if m.Path == path {
				return m.Version
			}
		}
	}
	t.Fatalf("%s is not linked into this test", path)
	return ""
}

func value(env types.MappingWithEquals, key string) string {
	if v := env[key]; v != nil {
		return *v
	}
	return ""
}

// ignoredByGit reports whether git keeps path (relative to root) out of
// the repository.
func ignoredByGit(t *testing.T, root, path string) bool {
	t.Helper()
	cmd := exec.Command("git", "check-ignore", "-q", "--no-index", path)
	cmd.Dir = root
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 1) {
		t.Fatalf("git check-ignore %s (git and a clone are needed): %v", path, err)
	}
	return err == nil
}
