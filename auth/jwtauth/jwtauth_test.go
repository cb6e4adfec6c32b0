package jwtauth_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rewind-dev/rewind/auth"
	"github.com/rewind-dev/rewind/auth/jwtauth"
	"github.com/rewind-dev/rewind/internal/authtest"
)

func TestVerifyHS256(t *testing.T) {
	key := authtest.NewHS256(t)
	v, err := jwtauth.New(jwtauth.Config{SecretFile: key.File})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify("Bearer " + key.Token(t, "app", authtest.Grants{Subscribe: []string{"a.*"}, Publish: []string{"a.b"}}, time.Hour))
	if err != nil || p.Subject != "app" || p.Subscribe[0] != "a.*" || p.Publish[0] != "a.b" || p.Admin || time.Until(p.Expires) < 59*time.Minute {
		t.Fatalf("verify: %+v %v", p, err)
	}
	other := authtest.NewHS256(t)
	for name, token := range map[string]string{
		"expired":         key.Token(t, "app", authtest.Grants{}, -time.Hour),
		"wrong secret":    other.Token(t, "app", authtest.Grants{}, time.Hour),
		"garbage":         "not.a.token",
		"empty":           "",
		"alg none":        unsigned(t),
		"invalid pattern": key.Token(t, "app", authtest.Grants{Subscribe: []string{"a..b"}}, time.Hour),
		"no expiry":       noExpiry(t, key.Secret),
	} {
		if _, err := v.Verify(token); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("%s: %v, want ErrUnauthenticated", name, err)
		}
	}
}

func unsigned(t *testing.T) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "x", "exp": time.Now().Add(time.Hour).Unix(), "rewind": map[string]any{"admin": true}}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func noExpiry(t *testing.T, secret []byte) string {
	s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "x"}).SignedString(secret)
	return s
}

func TestVerifyPublicKeys(t *testing.T) {
	ed := authtest.NewEd25519(t)
	v, err := jwtauth.New(jwtauth.Config{PublicKeyFile: ed.PEMFile})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify(ed.Token(t, "svc", authtest.Grants{Admin: true}, time.Hour, "")); err != nil || !p.Admin {
		t.Fatalf("EdDSA: %+v %v", p, err)
	}
	// An HS256 token made with the public key as its secret is the classic
	// algorithm-confusion attack: refused.
	pemBytes, _ := os.ReadFile(ed.PEMFile)
	confused, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "x", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(pemBytes)
	if _, err := v.Verify(confused); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("algorithm confusion: %v", err)
	}

	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	rsaFile := filepath.Join(t.TempDir(), "rsa.pem")
	_ = os.WriteFile(rsaFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	rv, err := jwtauth.New(jwtauth.Config{PublicKeyFile: rsaFile})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "r", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(rsaKey)
	if p, err := rv.Verify(tok); err != nil || p.Subject != "r" {
		t.Fatalf("RS256: %+v %v", p, err)
	}
}

func TestVerifyJWKS(t *testing.T) {
	a, b := authtest.NewEd25519(t), authtest.NewEd25519(t)
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: a.Private.Public().(ed25519.PublicKey), KeyID: "a", Algorithm: "EdDSA", Use: "sig"},
		{Key: b.Private.Public().(ed25519.PublicKey), KeyID: "b", Algorithm: "EdDSA", Use: "sig"},
	}}
	raw, _ := json.Marshal(set)
	file := filepath.Join(t.TempDir(), "jwks.json")
	_ = os.WriteFile(file, raw, 0o600)
	v, err := jwtauth.New(jwtauth.Config{JWKSFile: file})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify(b.Token(t, "by-b", authtest.Grants{}, time.Hour, "b")); err != nil || p.Subject != "by-b" {
		t.Fatalf("kid b: %+v %v", p, err)
	}
	if _, err := v.Verify(b.Token(t, "liar", authtest.Grants{}, time.Hour, "a")); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("signed by b, claiming kid a: %v", err)
	}
	if _, err := v.Verify(a.Token(t, "x", authtest.Grants{}, time.Hour, "unknown")); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("unknown kid: %v", err)
	}
}

func TestVerifierConfig(t *testing.T) {
	short := filepath.Join(t.TempDir(), "short")
	_ = os.WriteFile(short, []byte("tooshort"), 0o600)
	for name, cfg := range map[string]jwtauth.Config{
		"no key":       {},
		"two keys":     {SecretFile: short, JWKSFile: short},
		"short secret": {SecretFile: short},
		"missing file": {PublicKeyFile: "/nonexistent.pem"},
		"not a key":    {PublicKeyFile: short},
	} {
		if _, err := jwtauth.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
