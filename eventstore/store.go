package eventstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/semaphore"
)

// Header names stored with every event.
const (
	headerID   = "Rewind-Id"
	headerType = "Rewind-Type"
)

// DefaultMaxPayload is Config.MaxPayload's default.
const DefaultMaxPayload = 1 << 20

// Config configures a Store. Zero values take the documented defaults.
type Config struct {
	// Stream is the JetStream stream's name. Default "REWIND".
	Stream string
	// SubjectPrefix is prepended to topics: topic a.b is stored on subject
	// <prefix>.a.b. Default "events".
	SubjectPrefix string
	// MaxPayload bounds an event's data in bytes. Default 1 MiB, or less
	// when the NATS server's max_payload leaves less room.
	MaxPayload int
	// Replicas of the stream. Default 1.
	Replicas int
	// Storage is file (default) or memory.
	Storage jetstream.StorageType
	// Duplicates is JetStream's deduplication window, within which a retried
	// append or a repeated idempotency key stores nothing new. Default 2m.
	Duplicates time.Duration
	// MaxAge, MaxMsgs and MaxBytes bound retention; zero keeps everything.
	MaxAge   time.Duration
	MaxMsgs  int64
	MaxBytes int64
	// MaxMsgsPerSubject keeps at most this many events per topic, the
	// oldest of a topic going first (JetStream's max messages per subject);
	// zero keeps every one. A cursor whose event was superseded this way is
	// answered like any other removed by retention (see Resolve).
	MaxMsgsPerSubject int64
	// CacheSize is how many recent id -> sequence pairs are remembered to
	// resolve cursors without a storage scan (~5 MiB for 100,000), and how
	// many recent appends with an idempotency key are remembered, so that
	// a retry answers with the original event even once retention has
	// removed it (~15 MiB for 100,000). Default 100,000.
	CacheSize int
	// DisableGroupCommit makes every Append a JetStream publish of its own.
	// By default, appends made while another is being stored are stored
	// together, as one JetStream atomic batch (one fsync for all of them
	// when JetStream fsyncs every write); Open then allows atomic publish
	// on the stream, which needs nats-server 2.12 or later (without it,
	// appends are published one by one, and Open logs that).
	DisableGroupCommit bool
	// Check, if set, is asked about every event before it is stored (by
	// Append and, for all of a batch before any, AppendBatch); an error
	// refuses the event, wrapped in ErrInvalidEvent. The server sets it to
	// the declared event types' check (package eventschema).
	Check func(Event) error
	// Logger reports stream creation and setting changes. Default: discard.
	Logger *slog.Logger
	// Tracer, if set, makes every append a span and stores a sampled
	// span's trace context with its events (see Event.Trace). Default:
	// none, and appends start no span.
	Tracer trace.Tracer
}

// Defaults of Config that command-line tools show, declared once.
const (
	DefaultStream     = "REWIND"
	DefaultDuplicates = 2 * time.Minute
)

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = "events"
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Duplicates == 0 {
		c.Duplicates = DefaultDuplicates
		if c.MaxAge > 0 && c.MaxAge < c.Duplicates {
			c.Duplicates = c.MaxAge // JetStream requires the window to fit in MaxAge
		}
	}
	if c.CacheSize == 0 {
		c.CacheSize = 100_000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := ValidateTopic(c.SubjectPrefix); err != nil {
		return fmt.Errorf("%w: subject prefix: %w", ErrInvalidConfig, err)
	}
	if strings.ContainsAny(c.Stream, ". *>") {
		return fmt.Errorf("%w: stream name %q: no dots, spaces or wildcards", ErrInvalidConfig, c.Stream)
	}
	if c.MaxPayload < 0 || c.Replicas < 1 || c.Replicas > 5 || c.CacheSize < 0 {
		return fmt.Errorf("%w: max payload and cache size must be positive, replicas 1..5", ErrInvalidConfig)
	}
	return nil
}

// maxReads bounds the read consumers one store holds at once. JetStream
// limits consumers per stream (1,000 by default); a burst of replays past
// that would fail, so beyond this they wait their turn instead.
const maxReads = 256

// HeaderRoom is what an event's headers and subject may take on top of its
// data: a NATS server carries Config.MaxPayload only if its max_payload
// exceeds it by this much.
const HeaderRoom = 1024

// Store appends and reads events in one JetStream stream. It is safe for
// concurrent use.
type Store struct {
	cfg    Config
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream

	mu      sync.Mutex // guards entropy
	entropy *ulid.MonotonicEntropy

	seqs     *lru.Cache[ulid.ULID, uint64]
	keyed    *lru.Cache[keyedID, keyedAppend] // recent appends with a key, by message id
	scans    *turns                           // scans of lookups at once (maxScans)
	scanning gauge                            // scans of lookups in progress
	reads    *semaphore.Weighted              // consumers this store holds at once
	topics   *topicLists                      // recent listings of topics
	states   stateReads                       // State's requests, shared

	commits *committer // nil: every append is published alone
}

// Open creates the stream if it is missing and returns a Store on it.
func Open(ctx context.Context, nc *nats.Conn, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	auto := cfg.MaxPayload == 0
	cfg = cfg.withDefaults()
	if limit := int(nc.MaxPayload()) - HeaderRoom; cfg.MaxPayload > limit {
		if !auto {
			return nil, fmt.Errorf("%w: max payload %d bytes does not fit the NATS server's max_payload of %d bytes with %d bytes for headers; raise max_payload on the NATS servers or lower the max payload",
				ErrInvalidConfig, cfg.MaxPayload, nc.MaxPayload(), HeaderRoom)
		}
		cfg.MaxPayload = limit
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	scfg := jetstream.StreamConfig{
		Name:              cfg.Stream,
		Description:       "Rewind events",
		Subjects:          []string{cfg.SubjectPrefix + ".>"},
		Storage:           cfg.Storage,
		Replicas:          cfg.Replicas,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		Duplicates:        cfg.Duplicates,
		MaxAge:            cfg.MaxAge,
		MaxMsgs:           orUnlimited(cfg.MaxMsgs),
		MaxBytes:          orUnlimited(cfg.MaxBytes),
		MaxMsgsPerSubject: orUnlimited(cfg.MaxMsgsPerSubject),
		MaxMsgSize:        int32(cfg.MaxPayload + HeaderRoom),
		AllowDirect:       true,

		AllowAtomicPublish: !cfg.DisableGroupCommit,
	}
	stream, err := ensureStream(ctx, js, scfg, cfg.Logger)
	if err != nil {
		return nil, err
	}
	seqs, err := lru.New[ulid.ULID, uint64](max(cfg.CacheSize, 1))
	if err != nil {
		return nil, err
	}
	keyed, err := lru.New[keyedID, keyedAppend](max(cfg.CacheSize, 1))
	if err != nil {
		return nil, err
	}
	s := &Store{
		cfg:     cfg,
		nc:      nc,
		js:      js,
		stream:  stream,
		entropy: ulid.Monotonic(rand.Reader, 0),
		seqs:    seqs,
		keyed:   keyed,
		scans:   newTurns(maxScans),
		reads:   semaphore.NewWeighted(maxReads),
		topics:  newTopicLists(),
	}
	switch {
	case cfg.DisableGroupCommit:
	case !stream.CachedInfo().Config.AllowAtomicPublish:
		cfg.Logger.Warn("the NATS server does not support atomic batch publish (nats-server 2.12 or later does): appending one event at a time, without group commit",
			"stream", cfg.Stream)
	default:
		s.commits = newCommitter(s)
	}
	return s, nil
}

func orUnlimited(n int64) int64 {
	if n == 0 {
		return -1
	}
	return n
}

// Config returns the store's configuration with defaults applied.
func (s *Store) Config() Config { return s.cfg }

// AppendOption adjusts one Append.
type AppendOption func(*appendOptions)

type appendOptions struct{ key, scope string }

// WithIdempotencyKey makes Append return the original event, storing
// nothing, when the same key was used on the same topic, in the same scope
// (see WithIdempotencyScope), within the deduplication window. A key used
// again there for a different event (another type or other data) is
// refused with ErrKeyReused: the caller is told its event was not stored
// rather than handed another one.
//
// Without a scope a key is shared by everyone appending to the topic:
// whoever knows or guesses it is answered with the original event, data
// included. Give a scope wherever appenders must not see each other's
// events.
func WithIdempotencyKey(key string) AppendOption {
	return func(o *appendOptions) { o.key = key }
}

// WithIdempotencyScope puts Append's idempotency key in scope's namespace:
// the same key in two scopes names two events. The scope is what makes a
// key private to its owner; the API passes the authenticated principal's
// subject. Any string is a scope; "" is the shared one. Without a key it
// does nothing.
func WithIdempotencyScope(scope string) AppendOption {
	return func(o *appendOptions) { o.scope = scope }
}

// msgID is the JetStream message id an append with a key is deduplicated
// by. A scope enters it hashed, which keeps the header small whatever the
// scope and keeps one scope and key from reading as another (a scope may
// hold ':'); the prefixes keep scoped and shared keys apart.
func (o appendOptions) msgID(topic string) string {
	if o.scope == "" {
		return "key:" + topic + ":" + o.key
	}
	h := sha256.Sum256([]byte(o.scope))
	return "skey:" + topic + ":" + base64.RawURLEncoding.EncodeToString(h[:16]) + ":" + o.key
}

const maxKeyLen = 256

// Append stores ev and returns it with its id and sequence. A zero ev.ID is
// replaced by a new ULID; a given one is kept (imports), and appending the
// same id again within the deduplication window stores nothing.
//
// Append returns once JetStream has stored the event. Unless
// Config.DisableGroupCommit is set, appends made while another is being
// stored are stored together, as one atomic batch, in the order they came.
func (s *Store) Append(ctx context.Context, ev Event, opts ...AppendOption) (Event, error) {
	var o appendOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := s.validate(ev, o); err != nil {
		return Event{}, err
	}
	if ev.ID == (ulid.ULID{}) {
		ev.ID = s.newID()
	}
	ctx, span := s.startAppend(ctx, "rewind.append", ev.Topic, 1)
	ev, err := s.append(ctx, span, ev, o)
	endAppend(span, err, ev)
	return ev, err
}

func (s *Store) append(ctx context.Context, span trace.Span, ev Event, o appendOptions) (Event, error) {
	msgID := ev.ID.String()
	if o.key != "" {
		msgID = o.msgID(ev.Topic)
	}
	ev.Trace = carried(span)
	msg := s.message(ev)
	var ack *jetstream.PubAck
	var err error
	if s.commits != nil {
		ack, err = s.commits.append(ctx, span, msg, msgID)
	} else {
		ack, err = s.publish(ctx, msg, msgID)
	}
	if err != nil {
		return Event{}, fmt.Errorf("append to %s: %w", ev.Topic, err)
	}
	if ack.Duplicate && o.key != "" {
		return s.original(ctx, ev, o, msgID, ack.Sequence)
	}
	ev.Seq = ack.Sequence
	s.seqs.Add(ev.ID, ev.Seq)
	if o.key != "" {
		s.keyed.Add(keyedIDOf(msgID), keyedAppend{id: ev.ID, seq: ev.Seq, typ: ev.Type, data: dataSum(ev.Data)})
	}
	return ev, nil
}

// keyedID is a message id of an append with a key, hashed: a fixed 16
// bytes whatever the key, scope and topic.
type keyedID [16]byte

func keyedIDOf(msgID string) keyedID {
	h := sha256.Sum256([]byte(msgID))
	return keyedID(h[:16])
}

// keyedAppend is what a store remembers of an append with a key: enough to
// answer a retry with the original event once retention has removed it,
// or to tell it was for another event.
type keyedAppend struct {
	id   ulid.ULID
	seq  uint64
	typ  string
	data [16]byte // dataSum of its data
}

func dataSum(data []byte) [16]byte {
	h := sha256.Sum256(data)
	return [16]byte(h[:16])
}

// original answers an append of ev with key o.key that JetStream found
// already stored, at seq: with the original event, or ErrKeyReused if it
// was another. It is read from storage, or, once retention has removed it
// (a newer event of its topic under MaxMsgsPerSubject), taken from what
// this store remembers of its recent keyed appends. When neither has it,
// the answer is ErrSuperseded, never a cursor error: the client must know
// its event was stored, and not store it again under a new key.
func (s *Store) original(ctx context.Context, ev Event, o appendOptions, msgID string, seq uint64) (Event, error) {
	reused := func(id ulid.ULID, typ string) error {
		what := "other data"
		if typ != ev.Type {
			what = "another type"
		}
		return fmt.Errorf("%w: %w: idempotency key %s was used on %s for event %s, with %s; use a new key for a new event",
			ErrKeyReused, ErrInvalidEvent, quoteShort(o.key), ev.Topic, id, what)
	}
	if k, ok := s.keyed.Get(keyedIDOf(msgID)); ok && k.seq == seq {
		if k.typ != ev.Type || k.data != dataSum(ev.Data) {
			return Event{}, reused(k.id, k.typ)
		}
		// The data is the retry's, which has the same sum.
		return Event{ID: k.id, Seq: seq, Topic: ev.Topic, Type: ev.Type, Data: ev.Data}, nil
	}
	orig, err := s.getSeq(ctx, seq)
	if errors.Is(err, ErrCursorNotFound) {
		why := "retention"
		if s.cfg.MaxMsgsPerSubject > 0 {
			why = fmt.Sprintf("newer events of its topic (keep per topic %d) or retention", s.cfg.MaxMsgsPerSubject)
		}
		return Event{}, fmt.Errorf("%w: idempotency key %s on %s: its event was stored within the last %s and has since been removed by %s; it is not stored again",
			ErrSuperseded, quoteShort(o.key), ev.Topic, s.cfg.Duplicates, why)
	}
	if err != nil {
		return Event{}, fmt.Errorf("read original of idempotency key %s: %w", quoteShort(o.key), err)
	}
	if orig.Type != ev.Type || !bytes.Equal(orig.Data, ev.Data) {
		return Event{}, reused(orig.ID, orig.Type)
	}
	return orig, nil
}

// publish sends msg until JetStream acknowledges it or ctx ends. While a
// cluster elects a stream leader or a server restarts, publishes time out
// or find no responder; sending again with the same Nats-Msg-Id is safe,
// as JetStream stores a message id once within the deduplication window,
// so the caller sees a pause instead of an error.
func (s *Store) publish(ctx context.Context, msg *nats.Msg, msgID string) (*jetstream.PubAck, error) {
	for backoff := 50 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ack, err := s.js.PublishMsg(actx, msg, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(s.cfg.Stream))
		cancel()
		if err == nil {
			return ack, nil
		}
		if !transient(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		case <-time.After(backoff):
		}
	}
}

// transient reports whether a publish error may pass on its own.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrDisconnected):
		return true
	case errors.As(err, &apiErr):
		return apiErr.Code == 503 // "JetStream system temporarily unavailable"
	}
	return false
}

// Validate checks ev (and its append options) as Append does before it
// stores anything, so that a caller appending several events can refuse
// them all before storing any.
func (s *Store) Validate(ev Event, opts ...AppendOption) error {
	var o appendOptions
	for _, opt := range opts {
		opt(&o)
	}
	return s.validate(ev, o)
}

func (s *Store) validate(ev Event, o appendOptions) error {
	if err := ValidateTopic(ev.Topic); err != nil {
		return err
	}
	if ev.ID.Time() > maxIDMillis {
		return fmt.Errorf("%w: id %s: %w", ErrInvalidEvent, ev.ID, errIDTooLate)
	}
	if err := ValidateType(ev.Type); err != nil {
		return err
	}
	if o.key != "" {
		if err := checkText(o.key, maxKeyLen); err != nil {
			return fmt.Errorf("%w: idempotency key %s: %w (a key is 1 to %d bytes of UTF-8 on one line, without white space or control characters at either end)",
				ErrInvalidEvent, quoteShort(o.key), err, maxKeyLen)
		}
	}
	if len(ev.Data) > s.cfg.MaxPayload {
		return fmt.Errorf("%w: data is %d bytes, the limit is %d", ErrPayloadTooLarge, len(ev.Data), s.cfg.MaxPayload)
	}
	// json.Valid takes any bytes inside strings, and whoever decodes the
	// data later turns them into U+FFFD: refuse them rather than store data
	// that reads back different.
	if i := InvalidUTF8(ev.Data); i >= 0 {
		return fmt.Errorf("%w: data is not valid UTF-8 at byte %d (JSON text is UTF-8, RFC 8259)", ErrInvalidEvent, i)
	}
	if !json.Valid(ev.Data) {
		return fmt.Errorf("%w: data is not valid JSON", ErrInvalidEvent)
	}
	if s.cfg.Check != nil {
		if err := s.cfg.Check(ev); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidEvent, err)
		}
	}
	return nil
}

// maxTypeLen bounds an event type, in bytes.
const maxTypeLen = 128

// ValidateType checks an event type: 1 to 128 bytes of UTF-8 on one line,
// without white space or control characters at either end. Types are
// stored in a NATS header, which holds no line break and loses white space
// at its ends, and shown in JSON, which is UTF-8: a type read back, or
// matched by a filter, must be the one that was given.
func ValidateType(typ string) error {
	if err := checkText(typ, maxTypeLen); err != nil {
		return fmt.Errorf("%w: type %s: %w (a type is 1 to %d bytes of UTF-8 on one line, without white space or control characters at either end)",
			ErrInvalidEvent, quoteShort(typ), err, maxTypeLen)
	}
	return nil
}

// checkText checks text stored in a header as it is.
func checkText(s string, maxLen int) error {
	switch {
	case s == "":
		return errors.New("is empty")
	case len(s) > maxLen:
		return fmt.Errorf("is %d bytes, the limit is %d", len(s), maxLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("is not valid UTF-8 at byte %d", InvalidUTF8([]byte(s)))
	case strings.ContainsAny(s, "\r\n"):
		return errors.New("holds a line break")
	case strings.TrimFunc(s, spaceOrControl) != s:
		return errors.New("begins or ends with white space or a control character")
	}
	return nil
}

func spaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

// InvalidUTF8 returns the offset of the first byte of b that is not part of
// valid UTF-8, or -1: where a client's bad text is, for its error message.
func InvalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// quoteShort quotes s for an error message, cut to about 40 bytes.
func quoteShort(s string) string {
	if len(s) <= 40 {
		return quote(s)
	}
	cut := 40
	for cut > 36 && !utf8.RuneStart(s[cut]) {
		cut-- // whole runes only
	}
	return quote(s[:cut]) + "..."
}

func (s *Store) newID() ulid.ULID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ulid.MustNew(ulid.Now(), s.entropy)
}

func (s *Store) subject(topic string) string { return s.cfg.SubjectPrefix + "." + topic }

// message is ev as it is stored: data on the topic's subject, id, type
// and trace context in headers.
func (s *Store) message(ev Event) *nats.Msg {
	msg := &nats.Msg{
		Subject: s.subject(ev.Topic),
		Data:    ev.Data,
		Header:  nats.Header{headerID: {ev.ID.String()}, headerType: {ev.Type}},
	}
	inject(msg.Header, ev.Trace)
	return msg
}

// Get returns the event with id, or ErrCursorNotFound when no event has
// it. The zero id, which as a cursor is the start of the stream, is no
// event's.
func (s *Store) Get(ctx context.Context, id ulid.ULID) (Event, error) {
	if id == (ulid.ULID{}) {
		return Event{}, fmt.Errorf("event %s: the zero id is no event's: %w", id, ErrCursorNotFound)
	}
	seq, err := s.Resolve(ctx, id)
	if err != nil {
		return Event{}, err
	}
	return s.getSeq(ctx, seq)
}

func (s *Store) getSeq(ctx context.Context, seq uint64) (Event, error) {
	raw, err := s.stream.GetMsg(ctx, seq)
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return Event{}, fmt.Errorf("sequence %d: %w", seq, ErrCursorNotFound)
		}
		return Event{}, fmt.Errorf("get sequence %d: %w: %w", seq, ErrUnavailable, err)
	}
	return s.decode(raw.Subject, raw.Sequence, raw.Header, raw.Data)
}

func (s *Store) decode(subject string, seq uint64, h nats.Header, data []byte) (Event, error) {
	id, err := ulid.ParseStrict(h.Get(headerID))
	if err != nil {
		return Event{}, fmt.Errorf("message %d on %s has no valid %s header: %w", seq, subject, headerID, err)
	}
	return Event{
		ID:    id,
		Seq:   seq,
		Topic: strings.TrimPrefix(subject, s.cfg.SubjectPrefix+"."),
		Type:  h.Get(headerType),
		Data:  data,
		Trace: extract(h),
	}, nil
}

// Ping checks that JetStream answers for the stream and, on a cluster,
// that the stream has a leader in touch with a quorum of its replicas:
// a leader cut off from the others still answers, but can store nothing.
// JetStream counts a replica not current once unheard of for 10 s.
func (s *Store) Ping(ctx context.Context) error {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if c := info.Cluster; c != nil && len(c.Replicas) > 0 {
		if c.Leader == "" {
			return fmt.Errorf("%w: stream %s has no leader", ErrUnavailable, s.cfg.Stream)
		}
		current := 1 // the leader
		for _, r := range c.Replicas {
			if r.Current && !r.Offline {
				current++
			}
		}
		if size := len(c.Replicas) + 1; current < size/2+1 {
			return fmt.Errorf("%w: stream %s's leader %s is in touch with %d of %d replicas, not a quorum", ErrUnavailable, s.cfg.Stream, c.Leader, current, size)
		}
	}
	return nil
}
