//go:build !linux

package gqlws

import "errors"

// poller is Linux's (see poll_linux.go): elsewhere every connection holds
// a goroutine that reads it.
type poller struct{}

func (t *Transport) pollReads(*conn) bool { return false }

func (c *conn) rearm() error { return errors.New("no readiness polling on this system") }

func (c *conn) unpoll() {}
