// Package replay turns the event store into resumable subscriptions: a Hub
// tails the stream once per instance and fans events out in-process, and
// each Subscription replays stored events after its cursor, then follows
// the live tail with no gap and no duplicate at the seam. It knows nothing
// of GraphQL or HTTP, so every transport and the CLI share it.
package replay
