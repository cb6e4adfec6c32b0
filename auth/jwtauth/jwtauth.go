// Package jwtauth verifies signed JSON Web Tokens into auth principals:
// HS256 secrets, PEM public keys (RS256, EdDSA, ES256) and JWKS files, with
// only the algorithms each key allows. It is apart from package auth so
// that principals and their grants link no JWT library.
package jwtauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rewind-dev/rewind/auth"
	"github.com/rewind-dev/rewind/eventstore"
)

// Config says how tokens are verified. Exactly one key source is set.
type Config struct {
	// SecretFile holds the shared secret for HS256.
	SecretFile string
	// PublicKeyFile holds a PEM public key (RSA for RS256, Ed25519 for
	// EdDSA, or ECDSA for ES256).
	PublicKeyFile string
	// JWKSFile holds a JSON Web Key Set; tokens name their key by kid.
	JWKSFile string
	// Issuer and Audience, when set, must match the token's iss and aud.
	Issuer   string
	Audience string
	// Leeway tolerates clock skew on exp, nbf and iat. Default 30s.
	Leeway time.Duration
}

// Claims are a token's claims: the registered ones plus Rewind's grants.
//
//	{"sub": "app-42", "exp": 1767225600,
//	 "rewind": {"subscribe": ["orders.eu.*"], "publish": ["orders.eu.*"], "admin": false}}
type Claims struct {
	jwt.RegisteredClaims
	Rewind struct {
		Subscribe []string `json:"subscribe"`
		Publish   []string `json:"publish"`
		Admin     bool     `json:"admin"`
	} `json:"rewind"`
}

// Verifier turns tokens into principals.
type Verifier struct {
	parser  *jwt.Parser
	keyfunc jwt.Keyfunc
	leeway  time.Duration
}

// minSecret is the shortest HS256 secret accepted, in bytes: the hash's
// size (RFC 7518, section 3.2).
const minSecret = 32

// New loads the configured key.
func New(cfg Config) (*Verifier, error) {
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	set := 0
	for _, f := range []string{cfg.SecretFile, cfg.PublicKeyFile, cfg.JWKSFile} {
		if f != "" {
			set++
		}
	}
	if set != 1 {
		return nil, errors.New("jwt: set exactly one of a secret file, a public key file and a JWKS file")
	}
	opts := []jwt.ParserOption{jwt.WithLeeway(cfg.Leeway), jwt.WithExpirationRequired()}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v := &Verifier{leeway: cfg.Leeway}
	switch {
	case cfg.SecretFile != "":
		secret, err := os.ReadFile(cfg.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("jwt secret: %w", err)
		}
		secret = []byte(strings.TrimSpace(string(secret)))
		if len(secret) < minSecret {
			return nil, fmt.Errorf("jwt secret file %s holds %d bytes (white space at the ends trimmed): HS256 needs at least %d; make one with: openssl rand -hex 32 > %s",
				cfg.SecretFile, len(secret), minSecret, cfg.SecretFile)
		}
		opts = append(opts, jwt.WithValidMethods([]string{"HS256"}))
		v.keyfunc = func(*jwt.Token) (any, error) { return secret, nil }
	case cfg.PublicKeyFile != "":
		pem, err := os.ReadFile(cfg.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("jwt public key: %w", err)
		}
		key, methods, err := parsePublicKey(pem)
		if err != nil {
			return nil, fmt.Errorf("jwt public key %s: %w", cfg.PublicKeyFile, err)
		}
		opts = append(opts, jwt.WithValidMethods(methods))
		v.keyfunc = func(*jwt.Token) (any, error) { return key, nil }
	default:
		raw, err := os.ReadFile(cfg.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(raw, &set); err != nil {
			return nil, fmt.Errorf("jwks %s: %w", cfg.JWKSFile, err)
		}
		if len(set.Keys) == 0 {
			return nil, fmt.Errorf("jwks %s: no keys", cfg.JWKSFile)
		}
		opts = append(opts, jwt.WithValidMethods([]string{"RS256", "EdDSA", "ES256"}))
		v.keyfunc = func(t *jwt.Token) (any, error) {
			kid, _ := t.Header["kid"].(string)
			keys := set.Key(kid)
			if len(keys) == 0 {
				return nil, fmt.Errorf("no key with kid %q", kid)
			}
			if keys[0].IsPublic() {
				return keys[0].Key, nil
			}
			return keys[0].Public().Key, nil
		}
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

func parsePublicKey(pem []byte) (any, []string, error) {
	if k, err := jwt.ParseRSAPublicKeyFromPEM(pem); err == nil {
		return k, []string{"RS256"}, nil
	}
	if k, err := jwt.ParseEdPublicKeyFromPEM(pem); err == nil {
		return k, []string{"EdDSA"}, nil
	}
	if k, err := jwt.ParseECPublicKeyFromPEM(pem); err == nil {
		return k, []string{"ES256"}, nil
	}
	return nil, nil, errors.New("not an RSA, Ed25519 or ECDSA public key in PEM")
}

// Verify checks a token (with or without its "Bearer " prefix) and
// returns its principal.
func (v *Verifier) Verify(token string) (*auth.Principal, error) {
	token = strings.TrimSpace(token)
	if len(token) > 7 && strings.EqualFold(token[:7], "bearer ") {
		token = strings.TrimSpace(token[7:])
	}
	if token == "" {
		return nil, fmt.Errorf("%w: no token", auth.ErrUnauthenticated)
	}
	var c Claims
	if _, err := v.parser.ParseWithClaims(token, &c, v.keyfunc); err != nil {
		return nil, fmt.Errorf("%w: %w", auth.ErrUnauthenticated, err)
	}
	for _, p := range append(c.Rewind.Subscribe, c.Rewind.Publish...) {
		if err := eventstore.ValidatePattern(p); err != nil {
			return nil, fmt.Errorf("%w: token grants %q: %w", auth.ErrUnauthenticated, p, err)
		}
	}
	p := &auth.Principal{Subject: c.Subject, Subscribe: c.Rewind.Subscribe, Publish: c.Rewind.Publish, Admin: c.Rewind.Admin}
	if c.ExpiresAt != nil {
		// The token is accepted until exp plus the leeway, so that is
		// when requests made with it end: a token inside the leeway must
		// be served, not given a context that has already ended.
		p.Expires = c.ExpiresAt.Time.Add(v.leeway)
	}
	if p.Subject == "" {
		p.Subject = "token"
	}
	return p, nil
}
