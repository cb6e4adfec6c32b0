package auth_test

import (
	"errors"
	"testing"

	"github.com/rewind-dev/rewind/auth"
)

func TestPermissions(t *testing.T) {
	p := &auth.Principal{Subject: "app", Subscribe: []string{"orders.eu.*", "users"}, Publish: []string{"orders.eu.paris"}}
	for _, tc := range []struct {
		pattern       string
		read, publish bool
	}{
		{"orders.eu.paris", true, true},
		{"orders.eu.*", true, false},
		{"orders.eu.>", false, false}, // would include orders.eu.paris.x
		{"orders.>", false, false},    // wider than allowed: refused, not filtered
		{"orders.*.paris", false, false},
		{"users", true, false},
		{"users.x", false, false},
		{">", false, false},
	} {
		if got := p.CanRead(tc.pattern); got != tc.read {
			t.Errorf("CanRead(%q) = %v, want %v", tc.pattern, got, tc.read)
		}
		if got := p.CanPublish(tc.pattern); got != tc.publish {
			t.Errorf("CanPublish(%q) = %v, want %v", tc.pattern, got, tc.publish)
		}
	}
	if err := p.CheckRead("users", "orders.>"); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("CheckRead: %v", err)
	}
	admin := &auth.Principal{Admin: true}
	if !admin.CanRead(">") || !admin.CanPublish("any.thing") {
		t.Error("admin may do anything")
	}
}
