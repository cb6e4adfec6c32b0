package render

// AppendQuoted appends s as gqlgen's writeQuotedString (behind
// graphql.MarshalString) writes it: quotes, backslashes and control
// characters escaped, \t \r \n by name and the others as \u00XX in upper
// case, every other byte (invalid UTF-8 too) as it is. The bytes it
// escapes are ASCII, which never occur inside a multi-byte UTF-8 sequence,
// so scanning bytes finds what gqlgen's scan over runes finds.
func AppendQuoted(buf []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '\\' && c != '"' {
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '\t':
			buf = append(buf, `\t`...)
		case '\r':
			buf = append(buf, `\r`...)
		case '\n':
			buf = append(buf, `\n`...)
		case '\\':
			buf = append(buf, `\\`...)
		case '"':
			buf = append(buf, `\"`...)
		default:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
