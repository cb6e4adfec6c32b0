package eventstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"
)

// TopicInfo summarises one topic.
type TopicInfo struct {
	Name    string
	Events  uint64
	FirstID ulid.ULID
	LastID  ulid.ULID
}

// TopicPage is one page of a topic listing: the topics after After (a
// topic name; empty: from the first), at most Limit of them (0: all).
type TopicPage struct {
	After string
	Limit int
}

// Listings of topics are cached this long per set of patterns: JetStream
// answers a listing with every matching subject, whose cost follows the
// number of topics, so pages read one after the other, and requests of
// principals with the same grants, share one.
const (
	topicsTTL      = 2 * time.Second
	topicsCached   = 16 // pattern sets
	topicsParallel = 8  // first and last reads of a page at once
)

// topicList is one listing: the matching topics' subjects sorted, and
// their event counts.
type topicList struct {
	subjects []string
	counts   []uint64
}

// topicLists caches listings by pattern set, one fetch at a time per set.
type topicLists struct {
	cache   *expirable.LRU[string, *topicList]
	flights singleflight.Group
}

func newTopicLists() *topicLists {
	return &topicLists{cache: expirable.NewLRU[string, *topicList](topicsCached, nil, topicsTTL)}
}

// Topics lists the topics with stored events that match any of patterns,
// sorted by name, one page at a time: []string{">"} lists every topic,
// and no pattern lists none, so that a caller allowed to read nothing is
// shown nothing. more reports topics after the page. The listing of
// names comes from JetStream (for the subjects the patterns match), cached
// for a couple of seconds; each listed topic's first and last event are
// then read, for the page only: a page costs what it lists.
func (s *Store) Topics(ctx context.Context, patterns []string, page TopicPage) (topics []TopicInfo, more bool, err error) {
	for _, p := range patterns {
		if err := ValidatePattern(p); err != nil {
			return nil, false, err
		}
	}
	if page.Limit < 0 {
		return nil, false, fmt.Errorf("%w: a page of topics holds 0 (all) or more, not %d", ErrInvalidStart, page.Limit)
	}
	list, err := s.topicList(ctx, patterns)
	if err != nil {
		return nil, false, err
	}
	from := 0
	if page.After != "" {
		after := s.subject(page.After)
		from, _ = slices.BinarySearch(list.subjects, after)
		if from < len(list.subjects) && list.subjects[from] == after {
			from++
		}
	}
	until := len(list.subjects)
	if page.Limit > 0 && from+page.Limit < until {
		until, more = from+page.Limit, true
	}
	infos := make([]TopicInfo, until-from)
	found := make([]bool, len(infos))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(topicsParallel)
	for i := range infos {
		subj := list.subjects[from+i]
		g.Go(func() error {
			ti := TopicInfo{Name: strings.TrimPrefix(subj, s.cfg.SubjectPrefix+"."), Events: list.counts[from+i]}
			first, err := s.stream.GetMsg(gctx, 1, jetstream.WithGetMsgSubject(subj))
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return nil // retention removed the topic's events since the listing
			}
			if err != nil {
				return fmt.Errorf("first event of %s: %w: %w", ti.Name, ErrUnavailable, err)
			}
			last, err := s.stream.GetLastMsgForSubject(gctx, subj)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("last event of %s: %w: %w", ti.Name, ErrUnavailable, err)
			}
			ti.FirstID, _ = ulid.ParseStrict(first.Header.Get(headerID))
			ti.LastID, _ = ulid.ParseStrict(last.Header.Get(headerID))
			infos[i], found[i] = ti, true
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, false, err
	}
	topics = make([]TopicInfo, 0, len(infos))
	for i, ti := range infos {
		if found[i] {
			topics = append(topics, ti)
		}
	}
	return topics, more, nil
}

// topicList returns the listing for patterns, from the cache while it is
// fresh. Concurrent requests for one set wait for one fetch.
func (s *Store) topicList(ctx context.Context, patterns []string) (*topicList, error) {
	pats, _ := minimalPatterns(patterns)
	slices.Sort(pats)
	key := strings.Join(pats, " ")
	if l, ok := s.topics.cache.Get(key); ok {
		return l, nil
	}
	v, err, _ := s.topics.flights.Do(key, func() (any, error) {
		// The fetch outlives a caller that gives up: others may wait on it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		counts := map[string]uint64{}
		for _, p := range pats {
			info, err := s.stream.Info(fctx, jetstream.WithSubjectFilter(s.subject(p)))
			if err != nil {
				return nil, fmt.Errorf("stream subjects: %w: %w", ErrUnavailable, err)
			}
			for subj, n := range info.State.Subjects {
				counts[subj] = n // patterns that overlap list a subject twice
			}
		}
		l := &topicList{subjects: make([]string, 0, len(counts))}
		for subj := range counts {
			l.subjects = append(l.subjects, subj)
		}
		slices.Sort(l.subjects)
		l.counts = make([]uint64, len(l.subjects))
		for i, subj := range l.subjects {
			l.counts[i] = counts[subj]
		}
		s.topics.cache.Add(key, l)
		return l, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*topicList), nil
}
