package natsconn_test

import (
	"testing"

	"github.com/rewind-dev/rewind/natsconn"
)

// TestRedacted: URLs in logs and messages keep their hosts and users and
// lose their passwords and tokens.
func TestRedacted(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                       "nats://127.0.0.1:4222",
		"nats://rewind:s3cret@n1:4222,nats://n2:4222": "nats://rewind:xxxxx@n1:4222,nats://n2:4222",
		"nats://t0ken@n1:4222":                        "nats://xxxxx@n1:4222",
		"n1:4222, n2:4222":                            "n1:4222,n2:4222",
	} {
		if got := natsconn.Redacted(in); got != want {
			t.Errorf("Redacted(%q) = %q, want %q", in, got, want)
		}
	}
}
