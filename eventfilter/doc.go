// Package eventfilter owns the filters subscribers put on events' data
// (GraphQL's where, replayctl's --where): it compiles a Spec into a bounded
// Filter with a canonical Key, and evaluates it on an event's stored JSON
// data, decoded at most once per event however many filters read it. It
// knows nothing of GraphQL or of the stream; library users may import it.
package eventfilter
