// Package model holds the Go types gqlgen generates from schema.graphqls
// (go tool gqlgen generate; do not edit models_gen.go): the pages, edges
// and results that resolvers in package graph return. Event itself is
// eventstore.Event, mapped in gqlgen.yml, so resolvers hand out stored
// events as they are.
package model
