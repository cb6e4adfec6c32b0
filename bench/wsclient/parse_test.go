package wsclient

import (
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in      string
		kind    Kind
		id, pay string
		ts, n   int64
		eventID string
	}{
		{`{"payload":{"data":{"events":{"id":"01J","topic":"t","data":{"ts":17,"n":3},"time":"x"}}},"id":"1","type":"next"}`,
			KindNext, "1", `{"data":{"events":{"id":"01J","topic":"t","data":{"ts":17,"n":3},"time":"x"}}}`, 17, 3, "01J"},
		{`{"id":"a\"b","type":"next","payload":{"data":{"events":{"id":"X","data":{"n":-2,"ts":5}}}}}`,
			KindNext, `a\"b`, `{"data":{"events":{"id":"X","data":{"n":-2,"ts":5}}}}`, 5, -2, "X"},
		{`{"type":"connection_ack"}`, KindAck, "", "", 0, 0, ""},
		{` { "type" : "ping" , "payload" : [1, "}", {"a": "]"}] } `, KindPing, "", `[1, "}", {"a": "]"}]`, 0, 0, ""},
		{`{"type":"error","id":"7","payload":[{"message":"no","extensions":{"code":"X"}}]}`, KindError, "7", `[{"message":"no","extensions":{"code":"X"}}]`, 0, 0, ""},
	}
	for _, c := range cases {
		m, err := Parse([]byte(c.in))
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if m.Kind != c.kind || string(m.ID) != c.id || string(m.Payload) != c.pay {
			t.Errorf("%s: got kind %d id %q payload %q", c.in, m.Kind, m.ID, m.Payload)
		}
		if c.kind != KindNext {
			continue
		}
		ts, ok1 := Int(m.Payload, "ts")
		n, ok2 := Int(m.Payload, "n")
		id, ok3 := Str(m.Payload, "id")
		if !ok1 || !ok2 || !ok3 || ts != c.ts || n != c.n || string(id) != c.eventID {
			t.Errorf("%s: ts %d n %d id %q", c.in, ts, n, id)
		}
	}
	for _, bad := range []string{``, `[]`, `{"type":"next"`, `{"type":"next","payload":{"a":1}`, `{"type`} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"payload":{"data":{"events":{"data":{"ts":1,"n":2}}}},"id":"1","type":"next"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err == nil {
			Int(m.Payload, "ts")
			Str(m.Payload, "id")
		}
	})
}
