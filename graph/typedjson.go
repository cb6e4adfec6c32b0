package graph

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
)

// A small scanner over stored JSON, enough to project it: the store holds
// valid JSON, but nothing here trusts it to be, and a malformed value is
// an error, never a panic or a loop.

var errBadJSON = errors.New("malformed JSON")

// maxJSONDepth bounds nesting, so that a hostile document cannot exhaust
// the stack (the store bounds its size, not its depth).
const maxJSONDepth = 512

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func trimSpace(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

// skipValue returns the end of the value starting at b[i] (no space).
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, errBadJSON
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		if depth >= maxJSONDepth {
			return 0, errors.New("nested too deep")
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1, nil
		}
		for {
			var err error
			if c == '{' {
				if i, err = skipString(b, i); err != nil {
					return 0, err
				}
				i = skipSpace(b, i)
				if i >= len(b) || b[i] != ':' {
					return 0, errBadJSON
				}
				i = skipSpace(b, i+1)
			}
			if i, err = skipValue(b, i, depth+1); err != nil {
				return 0, err
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return 0, errBadJSON
			}
			if b[i] == closer {
				return i + 1, nil
			}
			if b[i] != ',' {
				return 0, errBadJSON
			}
			i = skipSpace(b, i+1)
		}
	default:
		j := i
		for j < len(b) && !isSpace(b[j]) && b[j] != ',' && b[j] != '}' && b[j] != ']' {
			j++
		}
		if j == i {
			return 0, errBadJSON
		}
		return j, nil
	}
}

func skipString(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, errBadJSON
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, nil
		}
	}
	return 0, errBadJSON
}

// eachMember calls fn with each member of the object raw, keys decoded.
func eachMember(raw []byte, fn func(key string, val []byte)) error {
	i := skipSpace(raw, 1)
	if i < len(raw) && raw[i] == '}' {
		return nil
	}
	for {
		end, err := skipString(raw, i)
		if err != nil {
			return err
		}
		key, plain := plainString(raw[i:end])
		if !plain {
			if err := json.Unmarshal(raw[i:end], &key); err != nil {
				return errBadJSON
			}
		}
		i = skipSpace(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return errBadJSON
		}
		i = skipSpace(raw, i+1)
		end, err = skipValue(raw, i, 1)
		if err != nil {
			return err
		}
		fn(key, raw[i:end])
		i = skipSpace(raw, end)
		if i >= len(raw) {
			return errBadJSON
		}
		if raw[i] == '}' {
			return nil
		}
		if raw[i] != ',' {
			return errBadJSON
		}
		i = skipSpace(raw, i+1)
	}
}

// eachElement calls fn with each element of the array raw until fn
// returns false.
func eachElement(raw []byte, fn func(val []byte) bool) error {
	i := skipSpace(raw, 1)
	if i < len(raw) && raw[i] == ']' {
		return nil
	}
	for {
		end, err := skipValue(raw, i, 1)
		if err != nil {
			return err
		}
		if !fn(raw[i:end]) {
			return nil
		}
		i = skipSpace(raw, end)
		if i >= len(raw) {
			return errBadJSON
		}
		if raw[i] == ']' {
			return nil
		}
		if raw[i] != ',' {
			return errBadJSON
		}
		i = skipSpace(raw, i+1)
	}
}

// plainString returns the content of the JSON string raw (quotes
// included) when it holds no escape.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 {
		return "", false
	}
	for _, c := range raw[1 : len(raw)-1] {
		if c == '\\' || c < 0x20 {
			return "", false
		}
	}
	return string(raw[1 : len(raw)-1]), true
}

func isNumber(raw []byte) bool {
	c := raw[0]
	return c == '-' || (c >= '0' && c <= '9')
}

// jsonInt reads an integral JSON number (1, -3, 2.0, 1e3) within int64.
func jsonInt(raw []byte) (int64, bool) {
	if !isNumber(raw) {
		return 0, false
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// jsonKind names what raw holds, for messages.
func jsonKind(raw []byte) string {
	switch c := raw[0]; {
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "a list"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case isNumber(raw):
		return "the number " + abbreviate(string(raw))
	}
	return "something else"
}
