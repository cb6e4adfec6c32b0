package main

import (
	"flag"
	"net/url"
	"strings"
)

// secretEnv names the variable each flag carrying a secret is read from
// too: a resume hint refers to it instead of printing the secret.
var secretEnv = map[string]string{
	"nats-password": "NATS_PASSWORD", "nats-token": "NATS_TOKEN", "server-token": "REWIND_TOKEN",
}

// startFlags say where a command starts; a resume hint replaces them with
// --after.
var startFlags = map[string]bool{"after": true, "since": true, "last": true, "latest": true}

// resumeCommand is the command line that picks up at start (--after ID,
// or --since TIME): this command with the connection flags and its own
// flags as given, its start point replaced by start. Pasting it reaches the same stream the same way.
// Secrets are written as a reference to their environment variable
// ("$NATS_PASSWORD"), to be set before pasting, so that none is printed.
func (a *app) resumeCommand(fs *flag.FlagSet, start ...string) string {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var conn, own []string
	redacted := false
	fs.VisitAll(func(f *flag.Flag) {
		_, isConn := connEnv[f.Name]
		switch {
		case isConn && a.conn.set[f.Name]:
			conn = append(conn, formatFlag(f, &redacted)...)
		case !isConn && given[f.Name] && !startFlags[f.Name]:
			own = append(own, formatFlag(f, &redacted)...)
		}
	})
	parts := append([]string{"replayctl"}, conn...)
	parts = append(append(append(parts, a.cmd.name), own...), start...)
	line := strings.Join(parts, " ")
	if redacted {
		line += "\n(put back the secrets shown as xxxxx)"
	}
	return line
}

// formatFlag writes a flag as it is given on a command line, its secrets
// left out (setting *redacted when one was).
func formatFlag(f *flag.Flag, redacted *bool) []string {
	name := "--" + f.Name
	if env, ok := secretEnv[f.Name]; ok {
		return []string{name, `"$` + env + `"`}
	}
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return []string{name + "=" + f.Value.String()}
	}
	if l, ok := f.Value.(*listFlag); ok {
		var out []string
		for _, v := range *l {
			if f.Name == "header" {
				if k, _, _ := strings.Cut(v, ":"); credentialHeader(k) {
					v, *redacted = k+": xxxxx", true
				}
			}
			out = append(out, name, shellQuote(v))
		}
		return out
	}
	v := f.Value.String()
	if u, err := url.Parse(v); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			v, *redacted = u.Redacted(), true
		}
	}
	return []string{name, shellQuote(v)}
}

// credentialHeader reports whether a request header named name probably
// carries a secret.
func credentialHeader(name string) bool {
	n := strings.ToLower(strings.TrimSpace(name))
	switch n {
	case "authorization", "proxy-authorization", "cookie":
		return true
	}
	return strings.Contains(n, "token") || strings.Contains(n, "key") || strings.Contains(n, "secret") || strings.Contains(n, "signature")
}
