// Package connlimit bounds the long-lived connections a server holds
// (WebSockets, event streams), in total and per client address. Transports
// that share one Limiter share one count, so a limit of 5 per address means
// 5 connections from that address whichever transports they use.
//
// It is public API, for passing one Limiter to transport/gqlws and
// transport/sse (or to transports of your own), and stable: Config and its
// defaults, New, Limiter's methods, Addr, Refuse, the errors and Code. It
// imports nothing outside the standard library.
package connlimit

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
)

// Config configures a Limiter. Zero values take the defaults.
type Config struct {
	// Max bounds open connections in total: past it, new ones are refused
	// with 503. Default 10,000.
	Max int
	// PerAddress bounds open connections from one client address: past
	// it, new ones from that address are refused with 429. Default 1,000.
	PerAddress int
}

// Defaults of Config, declared once (command-line flags show them too).
const (
	DefaultMax        = 10_000
	DefaultPerAddress = 1_000
)

func (c Config) withDefaults() Config {
	if c.Max <= 0 {
		c.Max = DefaultMax
	}
	if c.PerAddress <= 0 {
		c.PerAddress = DefaultPerAddress
	}
	return c
}

// The refusals Acquire returns.
var (
	ErrFull               = errors.New("the server is at its connection limit; retry later")
	ErrTooManyFromAddress = errors.New("too many connections from one address")
)

// Code is the extensions.code of a refusal's GraphQL error.
const Code = "TOO_MANY_CONNECTIONS"

// Limiter counts open connections. Its zero value is not usable: call New.
type Limiter struct {
	cfg Config

	mu     sync.Mutex
	open   int
	byAddr map[string]int
}

// New returns a limiter for cfg.
func New(cfg Config) *Limiter {
	return &Limiter{cfg: cfg.withDefaults(), byAddr: map[string]int{}}
}

// Acquire counts a new connection from addr, or says why it is refused
// (ErrFull, ErrTooManyFromAddress). release uncounts it; calling release
// again does nothing, so a deferred release and an early one can coexist.
func (l *Limiter) Acquire(addr string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.cfg.Max {
		return nil, fmt.Errorf("%w (%d open)", ErrFull, l.open)
	}
	if l.byAddr[addr] >= l.cfg.PerAddress {
		return nil, fmt.Errorf("%w: %s already has %d open", ErrTooManyFromAddress, addr, l.byAddr[addr])
	}
	l.open++
	l.byAddr[addr]++
	var once sync.Once
	return func() { once.Do(func() { l.release(addr) }) }, nil
}

func (l *Limiter) release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byAddr[addr]--; l.byAddr[addr] <= 0 {
		delete(l.byAddr, addr)
	}
}

// Open returns how many connections are counted now.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Addr returns the client address a request counts against: the host of
// its RemoteAddr. Behind a proxy that is the proxy's.
func Addr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Refuse answers a request Acquire refused: 503 when the server is full,
// 429 when the address is, with a GraphQL-shaped error whose
// extensions.code is Code.
func Refuse(w http.ResponseWriter, err error) {
	status := http.StatusServiceUnavailable
	if errors.Is(err, ErrTooManyFromAddress) {
		status = http.StatusTooManyRequests
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{
		"message": err.Error(), "extensions": map[string]string{"code": Code},
	}}})
}
