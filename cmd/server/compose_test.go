package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// TestComposeFile validates docker-compose.yml with the Compose
// specification's own loader (no Docker engine is needed) and checks that
// what it wires is what the binary reads: every variable given to a Rewind
// service is one of the server's, parses, and points at the NATS services
// the file defines.
func TestComposeFile(t *testing.T) {
	root, _ := filepath.Abs("../..")
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithInterpolation(true), cli.WithConsistency(true))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}

	for _, name := range []string{"nats-1", "nats-2", "nats-3", "rewind-1", "rewind-2", "lb"} {
		if _, ok := project.Services[name]; !ok {
			t.Fatalf("service %s is missing; have %v", name, project.ServiceNames())
		}
	}

	// The NATS nodes form one JetStream cluster: each routes to the others.
	for i := 1; i <= 3; i++ {
		svc := project.Services[fmt.Sprintf("nats-%d", i)]
		cmd := strings.Join(svc.Command, " ")
		for _, want := range []string{"--jetstream", "--cluster_name rewind", "--store_dir /data"} {
			if !strings.Contains(cmd, want) {
				t.Errorf("nats-%d: command %q lacks %q", i, cmd, want)
			}
		}
		for j := 1; j <= 3; j++ {
			if route := fmt.Sprintf("nats://nats-%d:6222", j); (i != j) != strings.Contains(cmd, route) {
				t.Errorf("nats-%d: routes in %q, want exactly the other nodes", i, cmd)
			}
		}
	}

	known := map[string]bool{}
	for _, env := range flagEnv {
		known[env] = true
	}
	for _, name := range []string{"rewind-1", "rewind-2"} {
		svc := project.Services[name]
		if svc.Build == nil {
			t.Fatalf("%s is not built from this repository", name)
		}
		if _, err := os.Stat(filepath.Join(svc.Build.Context, "Dockerfile")); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for key := range svc.Environment {
			if !known[key] {
				t.Errorf("%s sets %s, which the server does not read", name, key)
			}
		}
		cfg := parseEnv(t, svc.Environment)
		checkHealthcheck(t, name, svc, cfg, dockerEntrypoint(t, filepath.Join(svc.Build.Context, "Dockerfile")))
		origins := cfg.server.WebSocket.AllowedOrigins
		for _, want := range []string{"http://localhost:8080", "http://127.0.0.1:8080"} {
			if !slices.Contains(origins, want) {
				t.Errorf("%s: ALLOWED_ORIGINS %v lacks %s, where the load balancer is opened", name, origins, want)
			}
		}
		if cfg.server.Store.Replicas != 3 {
			t.Errorf("%s: replicas %d, want 3 on a three-node cluster", name, cfg.server.Store.Replicas)
		}
		_, port, _ := strings.Cut(cfg.server.Addr, ":")
		if port != "8080" {
			t.Errorf("%s listens on %q, the load balancer sends to 8080", name, cfg.server.Addr)
		}
		var hosts []string
		for _, u := range strings.Split(cfg.server.NATS.URL, ",") {
			parsed, err := url.Parse(u)
			if err != nil {
				t.Fatalf("%s: NATS_URL %q: %v", name, u, err)
			}
			hosts = append(hosts, parsed.Host)
		}
		if want := []string{"nats-1:4222", "nats-2:4222", "nats-3:4222"}; !slices.Equal(hosts, want) {
			t.Errorf("%s: NATS_URL hosts %v, want %v", name, hosts, want)
		}
		for _, dep := range []string{"nats-1", "nats-2", "nats-3"} {
			if _, ok := svc.DependsOn[dep]; !ok {
				t.Errorf("%s does not wait for %s", name, dep)
			}
		}
	}

	lb := project.Services["lb"]
	if !slices.ContainsFunc(lb.Ports, func(p types.ServicePortConfig) bool { return p.Published == "8080" && p.Target == 8080 }) {
		t.Errorf("lb does not publish 8080: %+v", lb.Ports)
	}
	checkSafeByDefault(t, root, project)
	// Caddy reads its Caddyfile from the repository: it proxies to both
	// instances and sends clients only to those whose /readyz answers 200.
	i := slices.IndexFunc(lb.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == "/etc/caddy/Caddyfile" })
	if i < 0 {
		t.Fatalf("lb mounts no Caddyfile: %+v", lb.Volumes)
	}
	caddyfile, err := os.ReadFile(lb.Volumes[i].Source)
	if err != nil {
		t.Fatalf("lb's Caddyfile: %v", err)
	}
	for _, want := range []string{"reverse_proxy rewind-1:8080 rewind-2:8080", "health_uri /readyz"} {
		if !strings.Contains(string(caddyfile), want) {
			t.Errorf("Caddyfile lacks %q:\n%s", want, caddyfile)
		}
	}

	// One NATS node's client port is published for replayctl, on loopback
	// only: the cluster has no authentication.
	nats1 := project.Services["nats-1"]
	if !slices.ContainsFunc(nats1.Ports, func(p types.ServicePortConfig) bool {
		return p.HostIP == "127.0.0.1" && p.Published == "4222" && p.Target == 4222
	}) {
		t.Errorf("nats-1 does not publish 4222 on 127.0.0.1: %+v", nats1.Ports)
	}
	for _, svc := range project.Services {
		for _, p := range svc.Ports {
			if p.Target == 4222 && p.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes NATS beyond loopback: %+v", svc.Name, p)
			}
		}
	}
}

// checkHealthcheck checks that a Rewind service's health check runs the
// image's binary, that the server's own parsing accepts its arguments, and
// that it probes /readyz on the port the service listens on.
func checkHealthcheck(t *testing.T, name string, svc types.ServiceConfig, cfg config, entrypoint string) {
	t.Helper()
	hc := svc.HealthCheck
	if hc == nil || hc.Disable || len(hc.Test) < 3 {
		t.Fatalf("%s has no health check: %+v", name, hc)
	}
	if hc.Test[0] != "CMD" || hc.Test[1] != entrypoint || hc.Test[2] != "healthcheck" {
		t.Fatalf("%s: health check %q, want [CMD %s healthcheck ...] (the image has no shell)", name, hc.Test, entrypoint)
	}
	target, _, err := parseHealthcheck(hc.Test[3:])
	if err != nil {
		t.Fatalf("%s: health check %q: %v", name, hc.Test, err)
	}
	_, port, _ := net.SplitHostPort(cfg.server.Addr)
	if want := "http://127.0.0.1:" + port + "/readyz"; target != want {
		t.Errorf("%s: health check probes %s, want %s", name, target, want)
	}
}

// dockerEntrypoint is the binary the Dockerfile's ENTRYPOINT runs.
func dockerEntrypoint(t *testing.T, dockerfile string) string {
	t.Helper()
	b, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ENTRYPOINT \["([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no ENTRYPOINT [\"...\"]", dockerfile)
	}
	if !strings.Contains(string(b), "./cmd/replayctl") {
		t.Errorf("%s does not build replayctl into the image", dockerfile)
	}
	return string(m[1])
}

// parseEnv runs the server's own flag parsing on a service's environment.
func parseEnv(t *testing.T, env types.MappingWithEquals) config {
	t.Helper()
	for _, key := range flagEnv {
		t.Setenv(key, "")
	}
	for key, val := range env {
		if val != nil {
			t.Setenv(key, *val)
		}
	}
	cfg, err := parseFlags(nil)
	if err != nil {
		t.Fatalf("the server refuses the compose environment: %v", err)
	}
	return cfg
}
