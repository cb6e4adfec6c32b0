// Package eventschema reads the event types a deployment declares in
// GraphQL SDL (object types marked @event, unions marked @events) and
// checks event data against them with GraphQL's input coercion rules.
//
// It knows nothing of serving: the graph package builds the typed API from
// a Schema, and the event store asks Check before it stores anything. This
// package is public API: a library user may load a Schema and pass it to
// server.Config.Events.
package eventschema

import (
	"errors"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rewind-dev/rewind/eventstore"
)

// Schema is a loaded, validated set of event declarations. It is immutable
// and safe for concurrent use.
type Schema struct {
	// Types holds the user's definitions with GraphQL's built-in types,
	// Rewind's scalars (Time, JSON) and the two directives, validated.
	Types *ast.Schema
	// Definitions are the user's own definitions (objects, enums, unions),
	// in the order of the files, with their positions (file and line).
	Definitions []*ast.Definition
	// Events are the declared event types, in the order of the files.
	Events []*Event
	// Unions are the @events unions, in the order of the files.
	Unions []*Union
	// Sources are the files as read.
	Sources []*ast.Source

	byType map[string][]*Event // Events by their event type
}

// Event is one declared event type: events on a topic matching one of
// Topics with type Type carry data of the object type Def.
type Event struct {
	Name   string   // the GraphQL type's name: OrderPlaced
	Topics []string // the declared NATS patterns: orders.*
	Type   string   // the event type: placed
	Def    *ast.Definition

	types *ast.Schema
}

// Union is an @events union of event types; an event's member is the one
// whose Type and Topics it matches.
type Union struct {
	Name    string
	Members []*Event
	Def     *ast.Definition
}

// ErrInvalidData: event data that does not match its declared type. The
// error is a *DataError carrying the path of the first bad field.
var ErrInvalidData = errors.New("event data does not match its declared type")

// ErrInvalidSchema: a schema the server cannot serve. The error names the
// file, the line and the reason.
var ErrInvalidSchema = errors.New("invalid event schema")

// DataError says where data first fails its declared type.
type DataError struct {
	Event  string // the GraphQL type: OrderPlaced
	Path   string // lines[2].qty; empty for the data itself
	Reason string // expected Int, got string "3"
}

func (e *DataError) Error() string {
	if e.Path == "" {
		return e.Event + " data: " + e.Reason
	}
	return e.Event + " data: " + e.Path + ": " + e.Reason
}

func (e *DataError) Unwrap() error { return ErrInvalidData }

// Match returns the declaration an event on topic with type typ belongs
// to, or nil when none does (such events are stored unchecked). Loading
// refuses declarations that could both match one event.
func (s *Schema) Match(topic, typ string) *Event {
	for _, e := range s.byType[typ] {
		if e.Matches(topic) {
			return e
		}
	}
	return nil
}

// Matches reports whether events on topic belong to e (if of its type).
func (e *Event) Matches(topic string) bool {
	for _, p := range e.Topics {
		if eventstore.Match(p, topic) {
			return true
		}
	}
	return false
}

// Check checks ev's data against its declaration, if it has one: nil for
// an event that matches none or whose data coerces, a *DataError (wrapping
// ErrInvalidData) otherwise. It suits eventstore.Config.Check.
func (s *Schema) Check(ev eventstore.Event) error {
	if e := s.Match(ev.Topic, ev.Type); e != nil {
		return e.CheckData(ev.Data)
	}
	return nil
}

// Member returns the member of u that an event of type typ on topic is,
// or nil.
func (u *Union) Member(topic, typ string) *Event {
	for _, e := range u.Members {
		if e.Type == typ && e.Matches(topic) {
			return e
		}
	}
	return nil
}
