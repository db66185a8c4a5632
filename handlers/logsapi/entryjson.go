package logsapi

import (
	"encoding/hex"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/eventline/eventline/domain/logs"
)

// appendEntry appends e encoded as logs.EncodeEntry encodes it, byte for
// byte, without its reflection: encoding/json walked the struct and
// re-scanned the context with its byte-at-a-time scanner, which made up
// most of an ingest request's CPU after decoding (an OTLP record's context,
// resource, attributes and scope, is the longest part of its entry). ok is
// false, and b unchanged in length, when e needs encoding/json's own
// answer: a context that is not valid JSON or a time it refuses to encode
// (its error is the one to return). TestAppendEntryMatchesEncodeEntry
// holds the two encodings equal.
func appendEntry(b []byte, e logs.Entry) (_ []byte, ok bool) {
	start := len(b)
	b = append(b, `{"id":"`...)
	b = appendUUID(b, e.ID)
	b = append(b, `","level":`...)
	b = appendJSONString(b, e.Level)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, e.Message)
	if len(e.Context) > 0 {
		b = append(b, `,"context":`...)
		if b, ok = appendRawJSON(b, e.Context); !ok {
			return b[:start], false
		}
	}
	if e.Source != "" {
		b = append(b, `,"source":`...)
		b = appendJSONString(b, e.Source)
	}
	b = append(b, `,"received_at":`...)
	if b, ok = appendTime(b, e.ReceivedAt); !ok {
		return b[:start], false
	}
	if e.TraceID != "" {
		b = append(b, `,"trace_id":`...)
		b = appendJSONString(b, e.TraceID)
	}
	if e.SpanID != "" {
		b = append(b, `,"span_id":`...)
		b = appendJSONString(b, e.SpanID)
	}
	if !e.Time.IsZero() {
		b = append(b, `,"time":`...)
		if b, ok = appendTime(b, e.Time); !ok {
			return b[:start], false
		}
	}
	if !e.ObservedTime.IsZero() {
		b = append(b, `,"observed_time":`...)
		if b, ok = appendTime(b, e.ObservedTime); !ok {
			return b[:start], false
		}
	}
	return append(b, '}'), true
}

// appendTime appends t as time.Time.MarshalJSON does (RFC 3339 with
// nanoseconds, quoted); ok is false when MarshalJSON would fail (a year
// outside 0-9999).
func appendTime(b []byte, t time.Time) (_ []byte, ok bool) {
	out, err := t.AppendText(append(b, '"'))
	if err != nil {
		return b, false
	}
	return append(out, '"'), true
}

// appendUUID appends id's canonical text, as uuid.UUID.MarshalText has it.
func appendUUID(b []byte, id [16]byte) []byte {
	var s [36]byte
	hex.Encode(s[0:8], id[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], id[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], id[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], id[8:10])
	s[23] = '-'
	hex.Encode(s[24:], id[10:])
	return append(b, s[:]...)
}

// appendJSONString appends s as encoding/json does by default: HTML's
// <, > and & escaped, as are U+2028 and U+2029, and each byte that is not
// UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// rawJSONSyntax checks a context's syntax only, as encoding/json does for
// a json.RawMessage: it accepts bytes that are not UTF-8 and repeated
// names.
var rawJSONSyntax = []jsontext.Options{jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true)}

// appendRawJSON appends the JSON value v as encoding/json does a
// json.RawMessage: whitespace outside strings dropped, <, >, & and the
// bytes of U+2028 and U+2029 escaped, nothing else changed. ok is false
// when v is not valid JSON.
func appendRawJSON(b []byte, v []byte) (_ []byte, ok bool) {
	if !jsontext.Value(v).IsValid(rawJSONSyntax...) {
		return b, false
	}
	const hexDigits = "0123456789abcdef"
	inString, escaped := false, false
	start := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !rawJSONSpecial[c] {
			// Most bytes: copied with the run they belong to.
			escaped = false
			continue
		}
		switch {
		case c == '<' || c == '>' || c == '&':
			b = append(b, v[start:i]...)
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			start = i + 1
		case c == 0xE2:
			if i+2 < len(v) && v[i+1] == 0x80 && v[i+2]&^1 == 0xA8 {
				b = append(b, v[start:i]...)
				b = append(b, '\\', 'u', '2', '0', '2', hexDigits[v[i+2]&0xF])
				i += 2
				start = i + 1
			}
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			b = append(b, v[start:i]...)
			start = i + 1
		}
	}
	return append(b, v[start:]...), true
}

// rawJSONSpecial marks the bytes appendRawJSON looks at: the ones it
// escapes, the ones that open and close strings, and whitespace.
var rawJSONSpecial = func() (t [256]bool) {
	for _, c := range []byte("<>&\xE2\"\\ \t\n\r") {
		t[c] = true
	}
	return t
}()
