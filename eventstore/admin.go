package eventstore

// What an operator's tool needs beyond appends and reads: the stream's
// existing configuration, its state, consumers and retention, headers-only
// scans and positions by storage time. Nothing here changes data.

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
)

// ErrStreamNotFound: LoadConfig found no stream of that name.
var ErrStreamNotFound = errors.New("stream not found")

// LoadConfig returns the configuration of the existing stream named stream,
// such that Open with it leaves the stream exactly as it is: a tool that
// opens a server's store must not retune its limits. It returns
// ErrStreamNotFound when there is no such stream, and ErrStreamMismatch for
// a stream whose settings Open would change whatever the Config.
func LoadConfig(ctx context.Context, nc *nats.Conn, stream string) (Config, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return Config{}, fmt.Errorf("jetstream: %w", err)
	}
	st, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return Config{}, fmt.Errorf("stream %s: %w", stream, ErrStreamNotFound)
	}
	if err != nil {
		return Config{}, fmt.Errorf("stream %s: %w: %w", stream, ErrUnavailable, err)
	}
	sc := st.CachedInfo().Config
	if len(sc.Subjects) != 1 || !strings.HasSuffix(sc.Subjects[0], ".>") {
		return Config{}, fmt.Errorf("stream %s stores subjects %v, not one prefix.>: not a Rewind stream", stream, sc.Subjects)
	}
	cfg := Config{
		Stream:        sc.Name,
		SubjectPrefix: strings.TrimSuffix(sc.Subjects[0], ".>"),
		Replicas:      sc.Replicas,
		Storage:       sc.Storage,
		Duplicates:    sc.Duplicates,
		MaxAge:        sc.MaxAge,
		MaxMsgs:       max(sc.MaxMsgs, 0),
		MaxBytes:      max(sc.MaxBytes, 0),
		// Without it, opening a stream kept per topic would lift the limit.
		MaxMsgsPerSubject: max(sc.MaxMsgsPerSubject, 0),
	}
	// Settings Open fixes rather than takes from Config: a stream that
	// differs in them was not made by Open, and opening it would change it.
	var differ []string
	if sc.MaxMsgSize <= HeaderRoom {
		differ = append(differ, fmt.Sprintf("max message size %d", sc.MaxMsgSize))
	}
	if sc.Retention != jetstream.LimitsPolicy {
		differ = append(differ, "retention "+sc.Retention.String())
	}
	if sc.Discard != jetstream.DiscardOld {
		differ = append(differ, sc.Discard.String())
	}
	if !sc.AllowDirect {
		differ = append(differ, "no direct get")
	}
	if len(differ) > 0 {
		return Config{}, fmt.Errorf("stream %s has settings Rewind does not use (%s); opening it would change them: %w",
			stream, strings.Join(differ, ", "), ErrStreamMismatch)
	}
	cfg.MaxPayload = int(sc.MaxMsgSize) - HeaderRoom
	return cfg, nil
}

// Stats describes the stream: its settings, its extent and its consumers.
type Stats struct {
	Stream      string
	Subjects    []string
	Storage     string // "file" or "memory"
	Replicas    int
	Retention   string        // "limits", "interest" or "workqueue"
	Discard     string        // "old" or "new"
	MaxAge      time.Duration // 0: unlimited
	MaxMsgs     int64         // 0: unlimited
	MaxPerTopic int64         // events kept per topic (Config.MaxMsgsPerSubject); 0: unlimited
	MaxBytes    int64         // 0: unlimited
	MaxMsgSize  int32         // 0: unlimited
	Duplicates  time.Duration
	Created     time.Time

	Events    uint64
	Bytes     uint64
	FirstSeq  uint64
	FirstTime time.Time // when the first retained event was stored
	LastSeq   uint64
	LastTime  time.Time
	Deleted   int // interior deletions
	Topics    int

	Leader    string // cluster leader; empty when not clustered
	Consumers []Consumer
}

// Consumer is one JetStream consumer of the stream: the servers' live
// tails, subscriptions reading from storage, other tools.
type Consumer struct {
	Name       string
	Durable    bool
	Filters    []string
	Created    time.Time
	Delivered  uint64 // stream sequence of the last message delivered
	Pending    uint64 // matching messages not yet delivered
	AckPending int
	LastActive time.Time // last delivery; zero if none
}

// Stats returns the stream's settings, state and consumers.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("stream info: %w: %w", ErrUnavailable, err)
	}
	c, st := info.Config, info.State
	out := Stats{
		Stream:      c.Name,
		Subjects:    c.Subjects,
		Storage:     strings.ToLower(c.Storage.String()),
		Replicas:    c.Replicas,
		Retention:   strings.ToLower(c.Retention.String()),
		Discard:     strings.TrimPrefix(strings.ToLower(c.Discard.String()), "discard"),
		MaxAge:      c.MaxAge,
		MaxMsgs:     max(c.MaxMsgs, 0),
		MaxPerTopic: max(c.MaxMsgsPerSubject, 0),
		MaxBytes:    max(c.MaxBytes, 0),
		MaxMsgSize:  max(c.MaxMsgSize, 0),
		Duplicates:  c.Duplicates,
		Created:     info.Created,
		Events:      st.Msgs,
		Bytes:       st.Bytes,
		FirstSeq:    st.FirstSeq,
		FirstTime:   st.FirstTime,
		LastSeq:     st.LastSeq,
		LastTime:    st.LastTime,
		Deleted:     st.NumDeleted,
		Topics:      int(st.NumSubjects),
	}
	if info.Cluster != nil && info.Cluster.Name != "" {
		out.Leader = info.Cluster.Leader
	}
	lister := s.stream.ListConsumers(ctx)
	for ci := range lister.Info() {
		cons := Consumer{
			Name:       ci.Name,
			Durable:    ci.Config.Durable != "",
			Filters:    ci.Config.FilterSubjects,
			Created:    ci.Created,
			Delivered:  ci.Delivered.Stream,
			Pending:    ci.NumPending,
			AckPending: ci.NumAckPending,
		}
		if ci.Config.FilterSubject != "" {
			cons.Filters = []string{ci.Config.FilterSubject}
		}
		if ci.Delivered.Last != nil {
			cons.LastActive = *ci.Delivered.Last
		}
		out.Consumers = append(out.Consumers, cons)
	}
	if err := lister.Err(); err != nil {
		return Stats{}, fmt.Errorf("list consumers: %w: %w", ErrUnavailable, err)
	}
	return out, nil
}

// CountTopics returns how many events each topic matching pattern holds.
// A topic with no events is absent.
func (s *Store) CountTopics(ctx context.Context, pattern string) (map[string]uint64, error) {
	if err := ValidatePattern(pattern); err != nil {
		return nil, err
	}
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(s.subject(pattern)))
	if err != nil {
		return nil, fmt.Errorf("stream subjects: %w: %w", ErrUnavailable, err)
	}
	out := make(map[string]uint64, len(info.State.Subjects))
	for subj, n := range info.State.Subjects {
		out[strings.TrimPrefix(subj, s.cfg.SubjectPrefix+".")] = n
	}
	return out, nil
}

// Header is an event without its data: what a headers-only read returns.
type Header struct {
	ID     ulid.ULID
	Seq    uint64
	Topic  string
	Type   string
	Size   int       // bytes of data
	Stored time.Time // when JetStream stored it
}

// Headers yields the headers of the events q selects, in stream order,
// without their data: a whole-stream pass for sizes or id sets costs a
// fraction of Read. Like Read it ends at the stream's end as it was when
// the read began.
func (s *Store) Headers(ctx context.Context, q Query) iter.Seq2[Header, error] {
	return func(yield func(Header, error) bool) {
		if err := q.Validate(); err != nil {
			yield(Header{}, err)
			return
		}
		spec := scanSpec{filters: s.filters(q.Topics), start: q.After + 1, until: q.Until, headersOnly: true}
		err := s.each(ctx, spec, func(m jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
			h := m.Headers()
			id, err := ulid.ParseStrict(h.Get(headerID))
			if err != nil {
				return false, fmt.Errorf("message %d on %s has no valid %s header: %w", meta.Sequence.Stream, m.Subject(), headerID, err)
			}
			size, _ := strconv.Atoi(h.Get(nats.MsgSize))
			hd := Header{
				ID:     id,
				Seq:    meta.Sequence.Stream,
				Topic:  strings.TrimPrefix(m.Subject(), s.cfg.SubjectPrefix+"."),
				Type:   h.Get(headerType),
				Size:   size,
				Stored: meta.Timestamp,
			}
			if !q.Matches(Event{Topic: hd.Topic, Type: hd.Type}) {
				return true, nil
			}
			if !yield(hd, nil) {
				return false, nil
			}
			q.Limit--
			return q.Limit != 0, nil
		})
		if err != nil {
			yield(Header{}, err)
		}
	}
}

// SeqAt returns the sequence of the first event JetStream stored at or
// after t, or the stream's last sequence + 1 when none was. It goes by
// storage time, not by the time in ids, which for imported events or
// writers with wrong clocks can be far apart. Any t is allowed: one after
// the last event gives the end (nothing to replay), one before the first
// gives the first.
func (s *Store) SeqAt(ctx context.Context, t time.Time) (uint64, error) {
	st, err := s.State(ctx)
	if err != nil {
		return 0, err
	}
	// Only a t within the stream's times goes to JetStream: it takes a
	// start time as Unix nanoseconds, which wrap outside 1678..2262 and
	// would start a time after 2262 at the beginning.
	switch {
	case st.Events == 0 || t.After(st.LastTime):
		return st.LastSeq + 1, nil
	case !t.After(st.FirstTime):
		return st.FirstSeq, nil
	}
	seq := st.LastSeq + 1
	spec := scanSpec{filters: []string{s.cfg.SubjectPrefix + ".>"}, startTime: &t, headersOnly: true}
	err = s.each(ctx, spec, func(_ jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
		seq = meta.Sequence.Stream
		return false, nil
	})
	if err != nil {
		return 0, fmt.Errorf("find the first event stored at %s: %w", t.Format(time.RFC3339), err)
	}
	return seq, nil
}
