// Package render is the one selection compiler of Rewind's API: it compiles
// a field's selection on events (Rewind's Event and Message, the typed
// envelopes, connections of them, federation entities) into a Program that
// writes an event's result byte for byte as gqlgen's executor would, shares
// renders of one shape between subscribers (Cache), and measures and
// budgets the bytes a selection renders. It knows no resolver and no
// transport.
package render
