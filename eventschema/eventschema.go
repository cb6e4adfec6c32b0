// Package eventschema reads the event types a deployment declares in
// GraphQL SDL (types marked @event, unions marked @events) and checks
// event data against them with GraphQL's input coercion rules.
//
// It knows nothing of serving: the graph package builds the typed API from
// a Schema, and the event store calls Check before it stores anything.
// This package is public API: a library user may load a Schema and pass it
// to server.Config.
package eventschema

import (
	"encoding/json"
	"errors"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rewind-dev/rewind/eventstore"
)

// Schema is a loaded, validated set of event declarations. It is immutable
// and safe for concurrent use.
type Schema struct {
	// Types holds the user's definitions (objects, enums, unions) with
	// Rewind's scalars (Time, JSON) and the two directives, validated.
	// Definitions keep their positions (file and line).
	Types *ast.Schema
	// Events are the declared event types, in the order of the files.
	Events []*Event
	// Unions are the @events unions, in the order of the files.
	Unions []*Union
	// Sources are the files as read, for the server to print in its SDL.
	Sources []*ast.Source
}

// Event is one declared event type: events on a topic matching one of
// Topics with type Type carry data of the object type Def.
type Event struct {
	Name   string   // the GraphQL type's name: OrderPlaced
	Topics []string // the declared NATS patterns: orders.*
	Type   string   // the event type: placed
	Def    *ast.Definition
}

// Union is an @events union of event types; an event's member is the one
// whose Type (and Topics) it matches.
type Union struct {
	Name    string
	Members []*Event
	Def     *ast.Definition
}

// ErrInvalidData: event data that does not match its declared type. The
// error is a *DataError carrying the path of the first bad field.
var ErrInvalidData = errors.New("event data does not match its declared type")

// ErrInvalidSchema: a schema file the server cannot serve. The error names
// the file, the line and the reason.
var ErrInvalidSchema = errors.New("invalid event schema")

// DataError says where data first fails its declared type.
type DataError struct {
	Event  string // the GraphQL type: OrderPlaced
	Path   string // lines[2].qty; empty for the data itself
	Reason string // expected Int
}

func (e *DataError) Error() string {
	if e.Path == "" {
		return e.Event + " data: " + e.Reason
	}
	return e.Event + " data: " + e.Path + ": " + e.Reason
}

func (e *DataError) Unwrap() error { return ErrInvalidData }

// Load reads the files named, and every .graphqls file in the folders
// named, as one schema.
func Load(paths ...string) (*Schema, error) { panic("eventschema: not yet") }

// Parse reads sources as one schema.
func Parse(sources ...*ast.Source) (*Schema, error) { panic("eventschema: not yet") }

// Match returns the declaration an event on topic with type typ belongs
// to, or nil when none does (such events are stored unchecked).
func (s *Schema) Match(topic, typ string) *Event { panic("eventschema: not yet") }

// Check checks ev's data against its declaration, if it has one: nil for
// an event that matches none or whose data coerces; a *DataError (wrapping
// ErrInvalidData) otherwise. It suits eventstore.Config.Check.
func (s *Schema) Check(ev eventstore.Event) error { panic("eventschema: not yet") }

// CheckData checks data against e's type.
func (e *Event) CheckData(data json.RawMessage) error { panic("eventschema: not yet") }
