// Package typed serves a typed API beside Rewind's own schema: for each
// declared event type (package eventschema), typed subscription, history
// and publish fields, and the Apollo Federation subgraph contract. It is
// given Rewind's API as dependencies (Deps), reads, publishes and delivers
// exactly as Rewind's generic fields do, and imports neither package graph
// nor anything that imports it.
package typed
