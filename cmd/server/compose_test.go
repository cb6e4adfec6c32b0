package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
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
		if cfg.replicas != 3 {
			t.Errorf("%s: replicas %d, want 3 on a three-node cluster", name, cfg.replicas)
		}
		_, port, _ := strings.Cut(cfg.addr, ":")
		if port != "8080" {
			t.Errorf("%s listens on %q, the load balancer sends to 8080", name, cfg.addr)
		}
		var hosts []string
		for _, u := range splitList(cfg.natsURL) {
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
	cmd := strings.Join(lb.Command, " ")
	for _, upstream := range []string{"rewind-1:8080", "rewind-2:8080"} {
		if !strings.Contains(cmd, upstream) {
			t.Errorf("lb command %q does not proxy to %s", cmd, upstream)
		}
	}
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
