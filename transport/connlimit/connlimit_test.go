package connlimit

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestLimits(t *testing.T) {
	l := New(Config{Max: 3, PerAddress: 2})
	var releases []func()
	acquire := func(addr string, want error) {
		t.Helper()
		release, err := l.Acquire(addr)
		if !errors.Is(err, want) {
			t.Fatalf("Acquire(%s): %v, want %v", addr, err, want)
		}
		if err == nil {
			releases = append(releases, release)
		}
	}
	acquire("a", nil)
	acquire("a", nil)
	acquire("a", ErrTooManyFromAddress)
	acquire("b", nil)
	acquire("c", ErrFull)
	releases[0]()
	releases[0]() // a second release does nothing
	if n := l.Open(); n != 2 {
		t.Fatalf("open %d after one release, want 2", n)
	}
	acquire("c", nil)
	acquire("a", ErrFull)
}

func TestRefuse(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
	}{
		{ErrFull, http.StatusServiceUnavailable},
		{ErrTooManyFromAddress, http.StatusTooManyRequests},
	} {
		w := httptest.NewRecorder()
		Refuse(w, tc.err)
		var body struct {
			Errors []struct {
				Message    string
				Extensions map[string]string
			}
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != tc.status || len(body.Errors) != 1 ||
			body.Errors[0].Extensions["code"] != Code || body.Errors[0].Message != tc.err.Error() {
			t.Errorf("%v: %d %s", tc.err, w.Code, w.Body)
		}
	}
}
