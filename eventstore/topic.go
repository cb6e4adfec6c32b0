package eventstore

import (
	"fmt"
	"strings"
)

// maxTopicLen bounds topic names so that subjects stay well under NATS limits.
const maxTopicLen = 200

// ValidateTopic reports whether name is a concrete topic: dot-separated
// tokens of letters, digits, '_' and '-'.
func ValidateTopic(name string) error {
	return validate(name, false)
}

// ValidatePattern reports whether p is a topic or a NATS-style pattern in
// which '*' stands for one token and a final '>' for one or more.
func ValidatePattern(p string) error {
	return validate(p, true)
}

func validate(s string, wildcards bool) error {
	if s == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidTopic)
	}
	if len(s) > maxTopicLen {
		return fmt.Errorf("%w: %q is longer than %d bytes", ErrInvalidTopic, s[:32]+"...", maxTopicLen)
	}
	toks := strings.Split(s, ".")
	for i, tok := range toks {
		switch {
		case tok == "":
			return fmt.Errorf("%w: %q has an empty token", ErrInvalidTopic, s)
		case wildcards && tok == "*":
		case wildcards && tok == ">":
			if i != len(toks)-1 {
				return fmt.Errorf("%w: %q: '>' must be the last token", ErrInvalidTopic, s)
			}
		default:
			for _, r := range tok {
				if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
					return fmt.Errorf("%w: %q: tokens are letters, digits, '_' and '-'", ErrInvalidTopic, s)
				}
			}
		}
	}
	return nil
}

// Match reports whether topic matches pattern.
func Match(pattern, topic string) bool {
	for {
		pt, prest, pmore := strings.Cut(pattern, ".")
		tt, trest, tmore := strings.Cut(topic, ".")
		switch {
		case pt == ">":
			return true
		case pt != "*" && pt != tt:
			return false
		case !pmore || !tmore:
			return pmore == tmore
		}
		pattern, topic = prest, trest
	}
}

// Overlap reports whether some topic matches both patterns.
func Overlap(a, b string) bool { return overlap(a, b) }

// overlap reports whether some topic matches both patterns.
func overlap(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(at) && i < len(bt); i++ {
		if at[i] == ">" || bt[i] == ">" {
			return true
		}
		if at[i] != bt[i] && at[i] != "*" && bt[i] != "*" {
			return false
		}
	}
	return len(at) == len(bt)
}

// Covers reports whether every topic matching pattern b also matches
// pattern a: a client allowed a may ask for b.
func Covers(a, b string) bool { return covers(a, b) }

// covers reports whether every topic matching b also matches a.
func covers(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i, tok := range at {
		if tok == ">" {
			return len(bt) > i
		}
		if i >= len(bt) || bt[i] == ">" {
			return false
		}
		if tok != "*" && tok != bt[i] {
			return false
		}
	}
	return len(at) == len(bt)
}

// minimalPatterns drops patterns covered by others, so that JetStream,
// which refuses overlapping consumer filters, can be given the rest. The
// bool is false when two remaining patterns still overlap.
func minimalPatterns(patterns []string) ([]string, bool) {
	var out []string
	for i, p := range patterns {
		redundant := false
		for j, q := range patterns {
			if i != j && covers(q, p) && (p != q || j < i) {
				redundant = true
				break
			}
		}
		if !redundant {
			out = append(out, p)
		}
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if overlap(out[i], out[j]) {
				return out, false
			}
		}
	}
	return out, true
}
