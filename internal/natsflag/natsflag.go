// Package natsflag binds natsconn.Config's connection settings to the
// command-line flags and environment variables cmd/server and replayctl
// share, so both read them the same way.
package natsflag

import (
	"flag"
	"fmt"
	"time"

	"github.com/rewind-dev/rewind/internal/flagvalue"
	"github.com/rewind-dev/rewind/natsconn"
)

// Env maps each flag Bind adds to the environment variable that sets it
// when the flag is not given.
var Env = map[string]string{
	"nats-url": "NATS_URL", "nats-creds": "NATS_CREDS", "nats-user": "NATS_USER", "nats-password": "NATS_PASSWORD",
	"nats-token": "NATS_TOKEN", "nats-ca": "NATS_CA", "nats-cert": "NATS_CERT", "nats-key": "NATS_KEY",
}

// WithEnv returns env with Env's entries added: a command's whole table.
func WithEnv(env map[string]string) map[string]string {
	for k, v := range Env {
		env[k] = v
	}
	return env
}

// Bind adds the external NATS flags to fs, writing into c, with c's
// current values as defaults. emptyURL says what no --nats-url means to
// the command.
func Bind(fs *flag.FlagSet, c *natsconn.Config, emptyURL string) {
	fs.StringVar(&c.URL, "nats-url", c.URL, "NATS server `URLs`, comma-separated; empty: "+emptyURL)
	fs.StringVar(&c.Creds, "nats-creds", c.Creds, "NATS credentials `file` (JWT and NKey seed)")
	fs.StringVar(&c.User, "nats-user", c.User, "NATS `user` (with --nats-password)")
	fs.StringVar(&c.Password, "nats-password", c.Password, "NATS `password`")
	fs.StringVar(&c.Token, "nats-token", c.Token, "NATS authentication `token`")
	fs.StringVar(&c.CA, "nats-ca", c.CA, "CA certificate `file` to verify the NATS servers (TLS)")
	fs.StringVar(&c.Cert, "nats-cert", c.Cert, "client certificate `file` for NATS (with --nats-key)")
	fs.StringVar(&c.Key, "nats-key", c.Key, "client private key `file` for NATS")
}

// DefaultSync is --nats-sync's default: fsync every write.
const DefaultSync = "always"

// ParseSync reads --nats-sync (NATS_SYNC): "always", fsync every write, or
// a positive interval such as 2m.
func ParseSync(s string) (always bool, interval time.Duration, err error) {
	if s == DefaultSync {
		return true, 0, nil
	}
	d, err := flagvalue.ParseDuration(s)
	if err != nil || d <= 0 {
		return false, 0, fmt.Errorf("--nats-sync=%q: use always or a positive interval such as 30s or 2m", s)
	}
	return false, d, nil
}
