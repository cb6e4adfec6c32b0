package workload

import (
	"encoding/json"
	"testing"
)

// The filtered run's bookkeeping: what each connection expects is exactly
// what its filter keeps of the numbers published.
func TestFilteredExpectations(t *testing.T) {
	sub := subscription{filters: 10}
	p := &pool{}
	for i := range 25 {
		w := sub.where(i)
		if w["path"] != "k" || w["eq"] != i%10 {
			t.Fatalf("connection %d's filter is %v", i, w)
		}
		p.conns = append(p.conns, &subConn{p: p, class: int64(i % 10), filters: 10})
	}
	// 25 connections over 10 classes: classes 0-4 have three, 5-9 two. Of
	// the numbers 3..22, each class has two.
	if got, want := p.expected(3, 23), int64(25*2); got != want {
		t.Errorf("expected(3, 23) = %d, want %d", got, want)
	}
	var data struct{ N, K int64 }
	if err := json.Unmarshal(classedData(47, 10), &data); err != nil || data.N != 47 || data.K != 7 {
		t.Errorf("classedData(47, 10) = %+v, %v", data, err)
	}
	if !p.conns[7].wants(47) || p.conns[6].wants(47) {
		t.Error("wants disagrees with k = n % 10")
	}
	if got := (subscription{}).where(3); got != nil {
		t.Errorf("an unfiltered subscription has the filter %v", got)
	}
	if got := (&pool{conns: []*subConn{{}, {}}}).expected(0, 5); got != 10 {
		t.Errorf("unfiltered expected(0, 5) over 2 connections = %d, want 10", got)
	}
}

// A typed subscription renders ts, an ID, as a string; delivery reads both.
func TestDeliveryReadsTypedTimestamps(t *testing.T) {
	for _, payload := range []string{
		`{"data":{"events":{"data":{"ts":1764000000123456789,"n":5}}}}`,
		`{"data":{"benchEvent":{"data":{"ts":"1764000000123456789","n":5}}}}`,
	} {
		ts, n, ok := delivery([]byte(payload))
		if !ok || ts != 1764000000123456789 || n != 5 {
			t.Errorf("delivery(%s) = %d, %d, %v", payload, ts, n, ok)
		}
	}
}

// The typed publish is valid JSON carrying the declared type.
func TestTypedPublishBody(t *testing.T) {
	var body struct {
		Query     string
		Variables struct {
			Topic, Type string
			Data        json.RawMessage
		}
	}
	if err := json.Unmarshal(typedPublishBody("fanout", typedType, classedData(1, 0)), &body); err != nil {
		t.Fatal(err)
	}
	if body.Variables.Topic != "fanout" || body.Variables.Type != typedType || len(body.Variables.Data) == 0 {
		t.Errorf("typed publish body: %+v", body)
	}
}
