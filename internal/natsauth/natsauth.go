// Package natsauth turns the credential and TLS settings the server and the
// admin CLI share into nats.go connection options, so both connect to a
// secured NATS the same way.
package natsauth

import "github.com/nats-io/nats.go"

// Config is how to authenticate to NATS: at most one of Creds, User (with
// Password) and Token; CA, and Cert with Key, for TLS.
type Config struct {
	Creds, User, Password, Token string
	CA, Cert, Key                string
}

// Options returns the connection options for c.
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
