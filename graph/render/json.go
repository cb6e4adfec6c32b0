package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
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

// members iterates over an object's members without allocating: keys
// come raw (quotes included), to compare with keyIs.
type members struct {
	raw []byte
	i   int
	err error
}

func newMembers(raw []byte) members { return members{raw: raw, i: skipSpace(raw, 1)} }

// next returns the next member, or false at the end or on an error (err).
func (m *members) next() (key, val []byte, ok bool) {
	raw, i := m.raw, m.i
	if i < len(raw) && raw[i] == '}' {
		return nil, nil, false
	}
	fail := func() ([]byte, []byte, bool) {
		m.err = errBadJSON
		return nil, nil, false
	}
	end, err := skipString(raw, i)
	if err != nil {
		return fail()
	}
	key = raw[i:end]
	i = skipSpace(raw, end)
	if i >= len(raw) || raw[i] != ':' {
		return fail()
	}
	i = skipSpace(raw, i+1)
	if end, err = skipValue(raw, i, 1); err != nil {
		m.err = err
		return nil, nil, false
	}
	val = raw[i:end]
	i = skipSpace(raw, end)
	switch {
	case i >= len(raw):
		return fail()
	case raw[i] == ',':
		i = skipSpace(raw, i+1)
		if i < len(raw) && raw[i] == '}' {
			return fail() // a trailing comma
		}
	case raw[i] != '}':
		return fail()
	}
	m.i = i
	return key, val, true
}

// keyIs reports whether the raw JSON string key is name.
func keyIs(key []byte, name string) bool {
	if len(key) == len(name)+2 && string(key[1:len(key)-1]) == name {
		return true
	}
	if !bytes.ContainsRune(key, '\\') {
		return false
	}
	var s string // an escaped key: rare
	return json.Unmarshal(key, &s) == nil && s == name
}

// elements iterates over an array's elements without allocating.
type elements struct {
	raw []byte
	i   int
	err error
}

func newElements(raw []byte) elements { return elements{raw: raw, i: skipSpace(raw, 1)} }

// next returns the next element, or false at the end or on an error (err).
func (e *elements) next() ([]byte, bool) {
	raw, i := e.raw, e.i
	if i < len(raw) && raw[i] == ']' {
		return nil, false
	}
	end, err := skipValue(raw, i, 1)
	if err != nil {
		e.err = err
		return nil, false
	}
	val := raw[i:end]
	i = skipSpace(raw, end)
	switch {
	case i >= len(raw):
		e.err = errBadJSON
		return nil, false
	case raw[i] == ',':
		i = skipSpace(raw, i+1)
		if i < len(raw) && raw[i] == ']' {
			e.err = errBadJSON // a trailing comma
			return nil, false
		}
	case raw[i] != ']':
		e.err = errBadJSON
		return nil, false
	}
	e.i = i
	return val, true
}

// isPlain reports whether the JSON string raw (quotes included) holds no
// escape, so its content is raw[1:len(raw)-1].
func isPlain(raw []byte) bool {
	if len(raw) < 2 || raw[len(raw)-1] != '"' {
		return false
	}
	for _, c := range raw[1 : len(raw)-1] {
		if c == '\\' || c < 0x20 {
			return false
		}
	}
	return true
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
	if n, ok := smallInt(raw); ok {
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
	case isNumber(raw) && len(raw) > 40:
		return "a number"
	case isNumber(raw):
		return "the number " + string(raw)
	}
	return "something else"
}

// smallInt reads digits with an optional minus, up to 18 of them (which
// cannot overflow), without the allocation strconv would cost here.
func smallInt(raw []byte) (int64, bool) {
	neg := raw[0] == '-'
	digits := raw
	if neg {
		digits = raw[1:]
	}
	if len(digits) == 0 || len(digits) > 18 || (digits[0] == '0' && len(digits) > 1) {
		return 0, false
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// appendRequoted appends the JSON string raw (quotes included, escapes in
// it) as appendQuoted writes its content: decoded as encoding/json
// decodes it (a lone surrogate is U+FFFD), without the allocations of
// decoding it into a string first. It reports false for a malformed one.
func appendRequoted(buf, raw []byte) ([]byte, bool) {
	const hex = "0123456789ABCDEF"
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return buf, false
	}
	s := raw[1 : len(raw)-1]
	buf = append(buf, '"')
	writeRune := func(r rune) {
		switch {
		case r == '"':
			buf = append(buf, `\"`...)
		case r == '\\':
			buf = append(buf, `\\`...)
		case r == '\t':
			buf = append(buf, `\t`...)
		case r == '\r':
			buf = append(buf, `\r`...)
		case r == '\n':
			buf = append(buf, `\n`...)
		case r < 0x20:
			buf = append(buf, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		default:
			buf = utf8.AppendRune(buf, r)
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			if c < 0x20 {
				return buf, false // JSON escapes every control character
			}
			buf = append(buf, c) // not a quote (the string would have ended) nor a backslash
			i++
			continue
		}
		if i+1 >= len(s) {
			return buf, false
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/':
			writeRune(rune(e))
			i += 2
		case 'b':
			writeRune('\b')
			i += 2
		case 'f':
			writeRune('\f')
			i += 2
		case 'n':
			writeRune('\n')
			i += 2
		case 'r':
			writeRune('\r')
			i += 2
		case 't':
			writeRune('\t')
			i += 2
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				return buf, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(s, i+2); ok && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						writeRune(d)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			writeRune(r)
		default:
			return buf, false
		}
	}
	return append(buf, '"'), true
}

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
