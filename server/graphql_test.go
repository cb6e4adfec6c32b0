package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/codes"
)

// panicker panics at one stage of an operation named "boom", to check that
// each stage's panic is answered and logged the same way.
type panicker struct{ stage string }

func (panicker) ExtensionName() string                   { return "Panicker" }
func (panicker) Validate(graphql.ExecutableSchema) error { return nil }

func (p panicker) at(stage, name string) {
	if p.stage == stage && name == "boom" {
		panic("boom at " + stage)
	}
}

func (p panicker) MutateOperationParameters(_ context.Context, rp *graphql.RawParams) *gqlerror.Error {
	p.at("parameters", rp.OperationName)
	return nil
}

func (p panicker) MutateOperationContext(_ context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	p.at("operation context", rc.OperationName)
	return nil
}

func (p panicker) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	p.at("operation", graphql.GetOperationContext(ctx).OperationName)
	return next(ctx)
}

func (p panicker) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	p.at("response", graphql.GetOperationContext(ctx).OperationName)
	return next(ctx)
}

func (p panicker) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	p.at("field", graphql.GetOperationContext(ctx).OperationName)
	return next(ctx)
}

// logBuffer collects log records as JSON lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) take() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil {
			out = append(out, rec)
		}
	}
	l.buf.Reset()
	return out
}

type httpResult struct {
	status int
	Errors []struct {
		Message    string
		Extensions map[string]any
	}
}

// do sends query's operation op by method.
func do(t *testing.T, method, endpoint, op, query string) httpResult {
	t.Helper()
	var resp *http.Response
	var err error
	if method == http.MethodGet {
		resp, err = http.Get(endpoint + "?operationName=" + op + "&query=" + url.QueryEscape(query))
	} else {
		body, _ := json.Marshal(map[string]any{"query": query, "operationName": op})
		resp, err = http.Post(endpoint, "application/json", bytes.NewReader(body))
	}
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	r := httpResult{status: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("%s: status %d, body is not JSON: %v", method, resp.StatusCode, err)
	}
	return r
}

// TestPanicsAnswerInternalError: a panic at any stage of an operation over
// POST or GET is answered with one "internal error" of code
// INTERNAL_SERVER_ERROR, logged once with its stack, and the server goes
// on serving.
func TestPanicsAnswerInternalError(t *testing.T) {
	for _, stage := range []string{"parameters", "operation context", "operation", "response", "field"} {
		t.Run(stage, func(t *testing.T) {
			logs := &logBuffer{}
			log := slog.New(slog.NewJSONHandler(logs, nil))
			h := graphQL(testAPI(t, log), Config{}, endpoint{extensions: []graphql.HandlerExtension{panicker{stage}}}, log)
			srv := httptest.NewServer(h)
			defer srv.Close()
			for _, method := range []string{http.MethodPost, http.MethodGet} {
				r := do(t, method, srv.URL, "boom", `query boom { hello }`)
				if len(r.Errors) != 1 || r.Errors[0].Message != "internal error" || r.Errors[0].Extensions["code"] != codes.Internal {
					t.Fatalf("%s: status %d, errors %+v", method, r.status, r.Errors)
				}
				recs := logs.take()
				if len(recs) != 1 || !strings.Contains(recs[0]["panic"].(string), "boom at "+stage) ||
					!strings.Contains(recs[0]["stack"].(string), "panicker") {
					t.Fatalf("%s: logged %v", method, recs)
				}
				// The server still answers: hello needs a principal.
				if r := do(t, method, srv.URL, "fine", `query fine { hello }`); len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != codes.Unauthenticated {
					t.Fatalf("%s after the panic: %+v", method, r.Errors)
				}
			}
		})
	}
}

// TestRecoverHTTP: a panic outside gqlgen's recovery is answered like the
// ones inside it; an aborted handler still aborts.
func TestRecoverHTTP(t *testing.T) {
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer recoverHTTP(w, r, log)
		panic("outside")
	})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/graphql", nil))
	if w.Code != http.StatusInternalServerError || w.Body.String() != internalErrorBody || !json.Valid(w.Body.Bytes()) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if recs := logs.take(); len(recs) != 1 || recs[0]["panic"] != "outside" {
		t.Fatalf("logged %v", recs)
	}
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", p)
		}
	}()
	http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer recoverHTTP(w, r, log)
		panic(http.ErrAbortHandler)
	}).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/graphql", nil))
}

// TestHostileLiterals: literals that made gqlparser's ArgumentMap panic
// (in the complexity walk, then in the executor) are refused as bad input
// before anything runs, over POST and GET, and nothing is logged as a
// panic.
func TestHostileLiterals(t *testing.T) {
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	srv := httptest.NewServer(graphQL(testAPI(t, log), Config{}, endpoint{}, log))
	defer srv.Close()
	for _, tc := range []struct{ name, query, code string }{
		{"json float", `mutation boom { publish(topic: "x", data: 1e400) { id } }`, codes.BadUserInput},
		{"json negative float", `mutation boom { publish(topic: "x", data: -1e400) { id } }`, codes.BadUserInput},
		{"json float in a list", `mutation boom { publish(topic: "x", data: [1, [2, 1e400]]) { id } }`, codes.BadUserInput},
		{"json int past int64", `mutation boom { publish(topic: "x", data: {a: 99999999999999999999}) { id } }`, codes.BadUserInput},
		{"time literal", `subscription boom { events(topics: ["t"], since: 1e400) { id } }`, codes.BadUserInput},
		{"in a fragment", `mutation boom { ...P } fragment P on Mutation { publish(topic: "x", data: 1e999) { id } }`, codes.BadUserInput},
		{"int argument past int32", `query boom { events(topic: "t", first: 99999999999999999999) { edges { cursor } } }`, "GRAPHQL_VALIDATION_FAILED"},
		{"int argument as float", `subscription boom { count(target: 1e400) }`, "GRAPHQL_VALIDATION_FAILED"},
		{"id past int64", `query boom { event(id: 99999999999999999999) { id } }`, "GRAPHQL_VALIDATION_FAILED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// GET refuses mutations only once the operation is made, after
			// the limits: the panic was reachable over GET too.
			for _, method := range []string{http.MethodPost, http.MethodGet} {
				r := do(t, method, srv.URL, "boom", tc.query)
				if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != tc.code || r.status >= 500 {
					t.Fatalf("%s: status %d, errors %+v, want %s", method, r.status, r.Errors, tc.code)
				}
			}
		})
	}
	if recs := logs.take(); len(recs) != 0 {
		t.Fatalf("refusals logged %v", recs)
	}
}

// testAPI is the API on no store, for what fails before any resolver reads.
func testAPI(t *testing.T, log *slog.Logger) *api {
	t.Helper()
	a, err := newAPI(Config{}, nil, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
