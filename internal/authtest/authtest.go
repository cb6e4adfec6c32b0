// Package authtest makes signing keys and tokens for tests.
package authtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Grants are the Rewind claims of a test token.
type Grants struct {
	Subscribe []string `json:"subscribe,omitempty"`
	Publish   []string `json:"publish,omitempty"`
	Admin     bool     `json:"admin,omitempty"`
}

type claims struct {
	jwt.RegisteredClaims
	Rewind Grants `json:"rewind"`
}

// HS256 is a shared secret written to a file.
type HS256 struct {
	Secret []byte
	File   string
}

// NewHS256 writes a random secret to a file in t's temp dir.
func NewHS256(t testing.TB) HS256 {
	t.Helper()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	for i := range secret {
		secret[i] = 'a' + secret[i]%26 // printable, so TrimSpace cannot change it
	}
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	return HS256{Secret: secret, File: file}
}

// Token signs a token for subject with grants, valid for ttl (negative:
// already expired).
func (k HS256) Token(t testing.TB, subject string, g Grants, ttl time.Duration) string {
	t.Helper()
	return sign(t, jwt.SigningMethodHS256, k.Secret, subject, g, ttl, "")
}

// Ed25519 is a key pair whose public half is written as PEM.
type Ed25519 struct {
	Private ed25519.PrivateKey
	PEMFile string
}

// NewEd25519 makes a key pair.
func NewEd25519(t testing.TB) Ed25519 {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ed25519.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return Ed25519{Private: priv, PEMFile: file}
}

// Token signs with EdDSA, naming kid in the header if given.
func (k Ed25519) Token(t testing.TB, subject string, g Grants, ttl time.Duration, kid string) string {
	t.Helper()
	return sign(t, jwt.SigningMethodEdDSA, k.Private, subject, g, ttl, kid)
}

func sign(t testing.TB, m jwt.SigningMethod, key any, subject string, g Grants, ttl time.Duration, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: subject, ExpiresAt: jwt.NewNumericDate(time.Now().Add(ttl))},
		Rewind:           g,
	})
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
