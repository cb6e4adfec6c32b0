package gqlws

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// TestResultFrame: the hand-built frame says exactly what encoding the
// whole message says, and anything but plain data takes the general path.
func TestResultFrame(t *testing.T) {
	for _, id := range []string{"1", `a"b\c`, "ünï"} {
		r := &graphql.Response{Data: json.RawMessage(`{"events":{"id":"01M8","data":{"x":[1,"y"]}}}`)}
		got, ok := resultFrame("next", id, r)
		if !ok {
			t.Fatalf("plain data not framed by hand")
		}
		want, _ := json.Marshal(outMsg{Type: "next", ID: id, Payload: r})
		var g, w any
		if json.Unmarshal(got, &g) != nil || json.Unmarshal(want, &w) != nil || !reflect.DeepEqual(g, w) {
			t.Fatalf("id %q:\n got %s\nwant %s", id, got, want)
		}
	}
	yes := true
	for name, r := range map[string]*graphql.Response{
		"errors":     {Data: json.RawMessage(`null`), Errors: gqlerror.List{{Message: "x"}}},
		"extensions": {Data: json.RawMessage(`{}`), Extensions: map[string]any{"k": 1}},
		"hasNext":    {Data: json.RawMessage(`{}`), HasNext: &yes},
		"no data":    {},
		"no id":      nil,
	} {
		id := "1"
		if r == nil {
			r, id = &graphql.Response{Data: json.RawMessage(`{}`)}, ""
		}
		if _, ok := resultFrame("next", id, r); ok {
			t.Errorf("%s: framed by hand", name)
		}
	}
}

// TestCloseReason: a reason quoting what the client sent still makes a
// valid close frame: at most 123 bytes of UTF-8.
func TestCloseReason(t *testing.T) {
	for _, in := range []string{
		"short",
		`Invalid message received: unexpected type "000000` + strings.Repeat("\uFFFD", 40) + `"`,
		strings.Repeat("x", 122) + "é",
		"bad \xd9 byte",
	} {
		got := closeReason(in)
		if len(got) > 123 || !utf8.ValidString(got) || !strings.HasPrefix(in, got) && utf8.ValidString(in) {
			t.Errorf("closeReason(%q) = %q", in, got)
		}
	}
}
