// Package natsconn connects Rewind to NATS: an external server or cluster,
// with credentials and TLS, or a JetStream server embedded in the process.
// It declares the connection settings cmd/server and replayctl share, their
// validation, and which connection errors are worth retrying. Public.
package natsconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rewind-dev/rewind/natsembed"
)

// Config is where NATS is and how to authenticate to it. The zero value
// embeds a JetStream server, which needs Embedded.DataDir.
type Config struct {
	// URL lists the NATS servers, comma-separated. Empty: embed a
	// JetStream server configured by Embedded.
	URL string
	// At most one of Creds (a credentials file), User with Password, and
	// Token authenticates to an external NATS.
	Creds, User, Password, Token string
	// CA verifies the servers' certificates; Cert with Key is the client's
	// certificate. Files, all of them.
	CA, Cert, Key string
	// Embedded configures the embedded server, used when URL is empty.
	Embedded natsembed.Config
}

// Validate reports the settings that cannot work together. Its messages
// name the settings by the command-line flags cmd/server and replayctl
// share (--nats-user ...).
func (c Config) Validate() error {
	var errs []error
	if (c.User == "") != (c.Password == "") {
		errs = append(errs, errors.New("--nats-user and --nats-password go together"))
	}
	if (c.Cert == "") != (c.Key == "") {
		errs = append(errs, errors.New("--nats-cert and --nats-key go together"))
	}
	if c.URL == "" && c.Creds+c.User+c.Token+c.CA+c.Cert != "" {
		errs = append(errs, errors.New("NATS credentials and TLS options need --nats-url"))
	}
	n := 0
	for _, s := range []string{c.Creds, c.User, c.Token} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		errs = append(errs, errors.New("use one of --nats-creds, --nats-user/--nats-password and --nats-token"))
	}
	if c.URL != "" && c.Embedded.Listen != "" {
		errs = append(errs, errors.New("--nats-listen is for the embedded server; it cannot be used with --nats-url"))
	}
	return errors.Join(errs...)
}

// Options returns the authentication and TLS options for c.
func (c Config) Options() []nats.Option {
	var opts []nats.Option
	switch {
	case c.Creds != "":
		opts = append(opts, nats.UserCredentials(c.Creds))
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	}
	if c.CA != "" {
		opts = append(opts, nats.RootCAs(c.CA))
	}
	if c.Cert != "" {
		opts = append(opts, nats.ClientCert(c.Cert, c.Key))
	}
	return opts
}

// Conn is a connection to NATS, and the embedded server behind it if any.
type Conn struct {
	*nats.Conn
	// Embedded is the embedded server, nil on an external NATS.
	Embedded *natsembed.Server
}

// Close closes the connection, then stops the embedded server.
func (c *Conn) Close() {
	c.Conn.Close()
	if c.Embedded != nil {
		c.Embedded.Shutdown()
	}
}

// Connect connects to the NATS c names, with opts after c's own options.
// On an external NATS it waits while no server answers (they may be
// starting), telling waiting (if set) why, until ctx ends; it fails at once
// when a server refuses the credentials or the TLS handshake, which
// retrying cannot fix. The embedded server's errors are natsembed's
// (natsembed.LockedError, natsembed.ErrListen).
func Connect(ctx context.Context, c Config, log *slog.Logger, waiting func(error), opts ...nats.Option) (*Conn, error) {
	if c.URL == "" {
		ns, err := natsembed.Start(c.Embedded)
		if err != nil {
			return nil, err
		}
		nc, err := ns.Connect(opts...)
		if err != nil {
			ns.Shutdown()
			return nil, err
		}
		return &Conn{Conn: nc, Embedded: ns}, nil
	}
	opts = append(c.Options(), opts...)
	where := Redacted(c.URL)
	for backoff := 250 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		nc, err := nats.Connect(c.URL, opts...)
		if err == nil {
			return &Conn{Conn: nc}, nil
		}
		if Permanent(err) {
			return nil, fmt.Errorf("connect to NATS at %s: %w", where, err)
		}
		log.Warn("NATS not reachable; retrying", "url", where, "err", err, "in", backoff,
			"fix", "start NATS with JetStream there, correct --nats-url (NATS_URL), or leave it empty to embed NATS")
		if waiting != nil {
			waiting(fmt.Errorf("connect to NATS at %s: %w", where, err))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to NATS at %s: %w", where, err)
		case <-time.After(backoff):
		}
	}
}

// Redacted is a comma-separated list of NATS URLs with the passwords and
// tokens in them replaced, for logs and messages.
func Redacted(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if u, err := url.Parse(p); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				p = u.Redacted()
			} else {
				u.User = url.User("xxxxx") // a token alone
				p = u.String()
			}
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

// Permanent reports whether a connection error is one retrying cannot
// fix: refused credentials, or a failed TLS handshake.
func Permanent(err error) bool {
	var tlsErr *tls.CertificateVerificationError
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.As(err, &tlsErr) ||
		strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:")
}
