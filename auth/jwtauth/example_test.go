package jwtauth_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rewind-dev/rewind/auth"
	"github.com/rewind-dev/rewind/auth/jwtauth"
)

// Verify an HS256 token into a Principal and ask it what it may do. The
// token's "rewind" claim lists the topic patterns it may read and publish.
func ExampleVerifier_Verify() {
	dir, err := os.MkdirTemp("", "auth-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	secret := []byte("a-shared-secret-of-32-bytes-long")
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, secret, 0o600); err != nil {
		log.Fatal(err)
	}

	v, err := jwtauth.New(jwtauth.Config{SecretFile: file})
	if err != nil {
		log.Fatal(err)
	}

	// An issuer signs a token like this one.
	var claims jwtauth.Claims
	claims.Subject = "app-42"
	claims.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Hour))
	claims.Rewind.Subscribe = []string{"orders.>"}
	claims.Rewind.Publish = []string{"orders.eu"}
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		log.Fatal(err)
	}

	p, err := v.Verify(token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("subject:", p.Subject)
	fmt.Println("may read orders.eu:", p.CanRead("orders.eu"))
	fmt.Println("may publish on orders.eu:", p.CanPublish("orders.eu"))
	fmt.Println("may publish on orders.us:", p.CanPublish("orders.us"))

	_, err = v.Verify(token + "x")
	fmt.Println("tampered token:", errors.Is(err, auth.ErrUnauthenticated))
	// Output:
	// subject: app-42
	// may read orders.eu: true
	// may publish on orders.eu: true
	// may publish on orders.us: false
	// tampered token: true
}
