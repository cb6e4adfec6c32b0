// Package auth decides who may do what: a Principal, whose grants list the
// topic patterns it may subscribe to and publish on, answers the questions
// every entry and exit point asks. A Verifier makes principals from
// credentials (package jwtauth, from signed tokens). It knows nothing of
// HTTP or GraphQL, and links no token library.
package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
)

// Errors callers branch on.
var (
	// ErrUnauthenticated: no credentials, or credentials that do not verify.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: valid credentials that do not allow the request.
	ErrForbidden = errors.New("forbidden")
)

// Verifier turns a request's credentials (a bearer token) into its
// principal, or an error wrapping ErrUnauthenticated. Package jwtauth
// verifies JSON Web Tokens.
type Verifier interface {
	Verify(token string) (*Principal, error)
}

// Principal is who a request acts for and what it may do.
type Principal struct {
	Subject string
	// Subscribe and Publish are topic patterns (NATS wildcards) the
	// principal may read from (subscriptions and queries) and append to.
	Subscribe []string
	Publish   []string
	// Admin may do anything.
	Admin bool
	// Expires is when the credentials stop being accepted (a JWT's exp
	// plus the verifier's leeway); zero: never.
	Expires time.Time
}

// Anyone is the principal of every request when authentication is off.
var anyone = &Principal{Subject: "anonymous", Admin: true}

// Anyone returns the all-allowed principal used with --auth=none.
func Anyone() *Principal { return anyone }

// CanRead reports whether p may receive events matching pattern: some
// allowed pattern must cover all of it. A client allowed orders.eu.* that
// asks for orders.> is refused, not silently given a subset.
func (p *Principal) CanRead(pattern string) bool {
	return p.Admin || coveredBy(p.Subscribe, pattern)
}

// CanPublish reports whether p may append to topic.
func (p *Principal) CanPublish(topic string) bool {
	return p.Admin || coveredBy(p.Publish, topic)
}

func coveredBy(allowed []string, requested string) bool {
	for _, a := range allowed {
		if eventstore.Covers(a, requested) {
			return true
		}
	}
	return false
}

// CheckRead returns ErrForbidden naming the first pattern p may not read.
func (p *Principal) CheckRead(patterns ...string) error {
	for _, pat := range patterns {
		if !p.CanRead(pat) {
			return fmt.Errorf("%w: %s may not read %q", ErrForbidden, p.Subject, pat)
		}
	}
	return nil
}

// CheckReadSomething returns ErrForbidden unless p may read some topic.
func (p *Principal) CheckReadSomething() error {
	if !p.Admin && len(p.Subscribe) == 0 {
		return fmt.Errorf("%w: %s may not read any topic", ErrForbidden, p.Subject)
	}
	return nil
}

// CheckPublish returns ErrForbidden unless p may append to topic.
func (p *Principal) CheckPublish(topic string) error {
	if !p.CanPublish(topic) {
		return fmt.Errorf("%w: %s may not publish on %q", ErrForbidden, p.Subject, topic)
	}
	return nil
}

type ctxKey struct{}

// With returns ctx carrying p.
func With(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From returns the principal of ctx, or an error wrapping
// ErrUnauthenticated when there is none.
func From(ctx context.Context) (*Principal, error) {
	if p, ok := ctx.Value(ctxKey{}).(*Principal); ok && p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("%w: send a token (Authorization: Bearer ...)", ErrUnauthenticated)
}
