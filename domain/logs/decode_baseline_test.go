package logs

// This file keeps, as the benchmark's baseline, the hand-written tokenizer
// that read entries until issue 28 replaced it with jsontext (jsonReader):
// BenchmarkDecode* runs both on the same bodies. It is test code only;
// delete it once nobody needs the comparison.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// baselineJSON checks JSON for what PostgreSQL can store without changing it:
// strings are valid UTF-8 with no NUL and no unpaired UTF-16 surrogate
// (escaped or not), numbers fit a numeric, containers nest at most
// MaxContextDepth levels. It reads the input once and never rewrites it;
// the first problem ends the walk, with where it is.
type baselineJSON struct {
	b []byte
	i int
	// spaced records whitespace between tokens: compaction is needed.
	spaced bool
	// path holds the keys and indexes leading to the value being read.
	path []baselineStep
	err  *baselineProblem
}

// baselineStep is one step of a path: an object key (its raw token, quotes
// included) or, when key is nil, an array index.
type baselineStep struct {
	key   []byte
	index int
}

// baselineProblem is why a value was refused.
type baselineProblem struct {
	// syntax is true when the input is not JSON at all.
	syntax bool
	// truncated is true when the input ended inside a value.
	truncated bool
	// at is the byte offset of the problem.
	at int
	// path leads to the offending value from the value checked: ".a[2]".
	path   string
	reason string
}

// baselineFault is what makes a string unstorable.
type baselineFault uint8

const (
	bfNone baselineFault = iota
	bfUTF8
	bfNUL
	bfSurrogate
	bfSyntax
	bfTruncated
)

func (f baselineFault) valueReason() string {
	switch f {
	case bfUTF8:
		return "must be valid UTF-8"
	case bfNUL:
		return "must not contain NUL characters"
	case bfSurrogate:
		return `must not contain an unpaired UTF-16 surrogate (such as \ud800)`
	}
	return ""
}

func (f baselineFault) keyReason() string {
	switch f {
	case bfUTF8:
		return "has a key that is not valid UTF-8"
	case bfNUL:
		return "has a key with a NUL character"
	case bfSurrogate:
		return "has a key with an unpaired UTF-16 surrogate"
	}
	return ""
}

// baselinePlainASCII marks the bytes a string holds as they are: printable ASCII
// other than the quote and the backslash.
var baselinePlainASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (s *baselineJSON) ws() {
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
			continue
		}
		break
	}
	if s.i != start {
		s.spaced = true
	}
}

func (s *baselineJSON) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *baselineJSON) syntaxError(what string) bool {
	if s.i >= len(s.b) {
		s.err = &baselineProblem{syntax: true, truncated: true, at: s.i, reason: "unexpected end of JSON input"}
		return false
	}
	s.err = &baselineProblem{syntax: true, at: s.i, reason: fmt.Sprintf("invalid character %s %s", baselineQuoteByte(s.b[s.i]), what)}
	return false
}

func baselineQuoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("0x%02x", c)
}

func (s *baselineJSON) refuse(at int, reason string) bool {
	s.err = &baselineProblem{at: at, path: s.pathString(), reason: reason}
	return false
}

// value reads one JSON value at depth (the outermost value is depth 1).
func (s *baselineJSON) value(depth int) bool {
	s.ws()
	switch c := s.peek(); {
	case c == '{':
		return s.object(depth)
	case c == '[':
		return s.array(depth)
	case c == '"':
		return s.stringValue()
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.syntaxError("looking for beginning of value")
}

func (s *baselineJSON) literal(lit string) bool {
	for k := 0; k < len(lit); k++ {
		if s.peek() != lit[k] {
			return s.syntaxError("in literal " + lit)
		}
		s.i++
	}
	return true
}

func (s *baselineJSON) object(depth int) bool {
	if depth > MaxContextDepth {
		s.err = &baselineProblem{at: s.i, reason: fmt.Sprintf("must not nest objects and arrays deeper than %d levels", MaxContextDepth)}
		return false
	}
	s.i++ // {
	s.ws()
	if s.peek() == '}' {
		s.i++
		return true
	}
	s.path = append(s.path, baselineStep{})
	for {
		s.ws()
		if s.peek() != '"' {
			return s.syntaxError("looking for beginning of object key string")
		}
		start := s.i
		if _, fault := s.str(); fault != bfNone {
			return s.stringFault(fault, start, true)
		}
		s.path[len(s.path)-1] = baselineStep{key: s.b[start:s.i]}
		s.ws()
		if s.peek() != ':' {
			return s.syntaxError("after object key")
		}
		s.i++
		if !s.value(depth + 1) {
			return false
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			continue
		case '}':
			s.i++
			s.path = s.path[:len(s.path)-1]
			return true
		}
		return s.syntaxError("after object key:value pair")
	}
}

func (s *baselineJSON) array(depth int) bool {
	if depth > MaxContextDepth {
		s.err = &baselineProblem{at: s.i, reason: fmt.Sprintf("must not nest objects and arrays deeper than %d levels", MaxContextDepth)}
		return false
	}
	s.i++ // [
	s.ws()
	if s.peek() == ']' {
		s.i++
		return true
	}
	s.path = append(s.path, baselineStep{})
	for n := 0; ; n++ {
		s.path[len(s.path)-1] = baselineStep{index: n}
		if !s.value(depth + 1) {
			return false
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			continue
		case ']':
			s.i++
			s.path = s.path[:len(s.path)-1]
			return true
		}
		return s.syntaxError("after array element")
	}
}

func (s *baselineJSON) stringValue() bool {
	start := s.i
	if _, fault := s.str(); fault != bfNone {
		return s.stringFault(fault, start, false)
	}
	return true
}

// stringFault records fault found in the string token starting at start;
// a key's fault is reported at the object holding it.
func (s *baselineJSON) stringFault(fault baselineFault, start int, key bool) bool {
	switch fault {
	case bfSyntax:
		return s.syntaxError("in string literal")
	case bfTruncated:
		s.i = len(s.b)
		return s.syntaxError("")
	}
	if key {
		s.path = s.path[:len(s.path)-1]
		return s.refuse(start, fault.keyReason())
	}
	return s.refuse(start, fault.valueReason())
}

// str reads the string token at s.i (an opening quote). It reports whether
// the token holds escapes and, on failure, leaves s.i where the fault is.
func (s *baselineJSON) str() (escaped bool, fault baselineFault) {
	b := s.b
	i := s.i + 1
	for {
		for i < len(b) && baselinePlainASCII[b[i]] {
			i++
		}
		if i >= len(b) {
			s.i = i
			return escaped, bfTruncated
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return escaped, bfNone
		case c == '\\':
			escaped = true
			n, f := baselineEscapeAt(b, i)
			if f != bfNone {
				s.i = i
				return escaped, f
			}
			i += n
		case c < 0x20:
			s.i = i
			return escaped, bfSyntax
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				s.i = i
				return escaped, bfUTF8
			}
			i += size
		}
	}
}

// baselineEscapeAt checks the escape sequence at b[i] (a backslash) and returns its
// length. A \u escape of NUL or of half a surrogate pair is a fault.
func baselineEscapeAt(b []byte, i int) (int, baselineFault) {
	if i+1 >= len(b) {
		return 0, bfTruncated
	}
	switch b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, bfNone
	case 'u':
	default:
		return 0, bfSyntax
	}
	r, f := baselineHex4(b, i+2)
	switch {
	case f != bfNone:
		return 0, f
	case r == 0:
		return 0, bfNUL
	case r >= 0xdc00 && r < 0xe000:
		return 0, bfSurrogate
	case r < 0xd800 || r >= 0xdc00:
		return 6, bfNone
	}
	// A high surrogate: a low one must follow as the next escape.
	j := i + 6
	switch {
	case j >= len(b) || (b[j] == '\\' && j+1 >= len(b)):
		return 0, bfTruncated
	case b[j] != '\\' || b[j+1] != 'u':
		return 0, bfSurrogate
	}
	lo, f := baselineHex4(b, j+2)
	if f != bfNone {
		return 0, f
	}
	if lo < 0xdc00 || lo >= 0xe000 {
		return 0, bfSurrogate
	}
	return 12, bfNone
}

// baselineHex4 reads the four hex digits of a \u escape at b[i].
func baselineHex4(b []byte, i int) (rune, baselineFault) {
	if i+4 > len(b) {
		for ; i < len(b); i++ {
			if baselineUnhex(b[i]) < 0 {
				return 0, bfSyntax
			}
		}
		return 0, bfTruncated
	}
	var r rune
	for _, c := range b[i : i+4] {
		v := baselineUnhex(c)
		if v < 0 {
			return 0, bfSyntax
		}
		r = r<<4 | v
	}
	return r, bfNone
}

func baselineUnhex(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return rune(c-'A') + 10
	}
	return -1
}

// number reads a number token and checks it against numeric's limits,
// computed as PostgreSQL's numeric input does: the display scale is the
// digits written after the point minus the exponent, and the first non-zero
// digit may stand at most 131071 places before the point.
func (s *baselineJSON) number() bool {
	b := s.b
	start := s.i
	i := s.i
	if b[i] == '-' {
		i++
	}
	intStart := i
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		s.i = i
		return s.syntaxError("in numeric literal")
	}
	intDigits := i - intStart
	// firstNonZero counts the digits before the first non-zero one (-1: none).
	firstNonZero := -1
	if b[intStart] != '0' {
		firstNonZero = 0
	}
	fracDigits := 0
	if i < len(b) && b[i] == '.' {
		i++
		fracStart := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if firstNonZero < 0 && b[i] != '0' {
				firstNonZero = intDigits + i - fracStart
			}
			i++
		}
		fracDigits = i - fracStart
		if fracDigits == 0 {
			s.i = i
			return s.syntaxError("after decimal point in numeric literal")
		}
	}
	exp := int64(0)
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		neg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			neg = b[i] == '-'
			i++
		}
		expStart := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if exp <= pgNumericMaxExponent {
				exp = exp*10 + int64(b[i]-'0')
			}
			i++
		}
		if i == expStart {
			s.i = i
			return s.syntaxError("in exponent of numeric literal")
		}
		if neg {
			exp = -exp
		}
	}
	s.i = i
	switch {
	case exp > pgNumericMaxExponent || exp < -pgNumericMaxExponent:
		return s.refuse(start, "is a number beyond PostgreSQL's numeric range (exponent too large)")
	case int64(fracDigits)-exp > pgNumericMaxScale:
		return s.refuse(start, fmt.Sprintf("is a number with more than %d digits after the decimal point, beyond PostgreSQL's numeric range", pgNumericMaxScale))
	case firstNonZero >= 0 && int64(intDigits-1-firstNonZero)+exp >= pgNumericMaxIntDigits:
		return s.refuse(start, fmt.Sprintf("is a number with more than %d digits before the decimal point, beyond PostgreSQL's numeric range", pgNumericMaxIntDigits))
	}
	return true
}

// pathString renders s.path: .key for plain keys, ["key"] for others, [n]
// for indexes. Long keys are cut short.
func (s *baselineJSON) pathString() string {
	var sb strings.Builder
	for _, st := range s.path {
		if st.key == nil {
			sb.WriteString("[" + strconv.Itoa(st.index) + "]")
			continue
		}
		key := baselineDecodeString(st.key)
		if len(key) > 64 {
			cut := 64
			for cut > 0 && !utf8.RuneStart(key[cut]) {
				cut--
			}
			key = key[:cut] + "…"
		}
		if plainKey(key) {
			sb.WriteString("." + key)
			continue
		}
		q, _ := json.Marshal(key)
		sb.WriteString("[" + string(q) + "]")
	}
	return sb.String()
}

// baselineDecodeString decodes a string token that str accepted.
func baselineDecodeString(tok []byte) string {
	raw := tok[1 : len(tok)-1]
	esc := -1
	for k, c := range raw {
		if c == '\\' {
			esc = k
			break
		}
	}
	if esc < 0 {
		return string(raw)
	}
	out := make([]byte, esc, len(raw))
	copy(out, raw[:esc])
	for i := esc; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := baselineHex4(raw, i+2)
			i += 6
			if utf16.IsSurrogate(r) {
				lo, _ := baselineHex4(raw, i+2)
				r = utf16.DecodeRune(r, lo)
				i += 6
			}
			out = utf8.AppendRune(out, r)
			continue
		default: // " \ /
			out = append(out, raw[i+1])
		}
		i += 2
	}
	return string(out)
}

// baselineCompactJSON removes the whitespace between the tokens of JSON that
// baselineJSON accepted.
func baselineCompactJSON(dst, src []byte) []byte {
	inString := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inString {
			dst = append(dst, c)
			switch c {
			case '\\':
				i++
				dst = append(dst, src[i])
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			inString = true
		}
		dst = append(dst, c)
	}
	return dst
}

// baselineSyntaxFieldError turns a syntax problem into an entry's error.
func baselineSyntaxFieldError(p *baselineProblem, index int) *FieldError {
	if p.truncated {
		return &FieldError{Index: index, Reason: "is empty or truncated JSON"}
	}
	return &FieldError{Index: index, Reason: fmt.Sprintf("is not valid JSON (%s at byte %d)", p.reason, p.at)}
}

// entry reads one entry object at s.i. The context comes back compacted
// and checked; the other fields are for Input.check.
func (s *baselineJSON) entry(index int) (Input, []byte, *FieldError) {
	var in Input
	var ctx []byte
	s.ws()
	switch c := s.peek(); {
	case c == '{':
	case isValueStart(c):
		return in, nil, &FieldError{Index: index, Reason: "must be a JSON object"}
	default:
		s.syntaxError("looking for beginning of value")
		return in, nil, baselineSyntaxFieldError(s.err, index)
	}
	s.i++
	s.ws()
	if s.peek() == '}' {
		s.i++
		return in, nil, nil
	}
	for {
		s.ws()
		if s.peek() != '"' {
			s.syntaxError("looking for beginning of object key string")
			return in, nil, baselineSyntaxFieldError(s.err, index)
		}
		start := s.i
		if _, fault := s.str(); fault != bfNone {
			if fault == bfSyntax || fault == bfTruncated {
				s.stringFault(fault, start, false)
				return in, nil, baselineSyntaxFieldError(s.err, index)
			}
			return in, nil, &FieldError{Index: index, Reason: fault.keyReason()}
		}
		field, key := baselineFieldOf(s.b[start:s.i])
		s.ws()
		if s.peek() != ':' {
			s.syntaxError("after object key")
			return in, nil, baselineSyntaxFieldError(s.err, index)
		}
		s.i++
		s.ws()
		switch field {
		case "":
			return in, nil, &FieldError{Index: index, Field: key, Reason: "is not a known field"}
		case "context":
			var fe *FieldError
			if ctx, fe = s.contextValue(index); fe != nil {
				return in, nil, fe
			}
			in.Context = ctx
		default:
			str, isNull, fe := s.stringField(field, index)
			if fe != nil {
				return in, nil, fe
			}
			switch {
			case field == "message" && isNull:
				in.Message = nil
			case field == "message":
				in.Message = &str
			case isNull: // as encoding/json: null leaves a string alone
			case field == "level":
				in.Level = str
			default:
				in.Source = str
			}
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			continue
		case '}':
			s.i++
			return in, ctx, nil
		}
		s.syntaxError("after object key:value pair")
		return in, nil, baselineSyntaxFieldError(s.err, index)
	}
}

// stringField reads the string (or null) value of field.
func (s *baselineJSON) stringField(field string, index int) (str string, isNull bool, fe *FieldError) {
	switch c := s.peek(); {
	case c == 'n':
		if !s.literal("null") {
			return "", false, baselineSyntaxFieldError(s.err, index)
		}
		return "", true, nil
	case c == '"':
	case isValueStart(c):
		return "", false, &FieldError{Index: index, Field: field, Reason: "must be a string"}
	default:
		s.syntaxError("looking for beginning of value")
		return "", false, baselineSyntaxFieldError(s.err, index)
	}
	start := s.i
	escaped, fault := s.str()
	switch fault {
	case bfNone:
	case bfSyntax, bfTruncated:
		s.stringFault(fault, start, false)
		return "", false, baselineSyntaxFieldError(s.err, index)
	default:
		return "", false, &FieldError{Index: index, Field: field, Reason: fault.valueReason()}
	}
	if !escaped {
		return string(s.b[start+1 : s.i-1]), false, nil
	}
	return baselineDecodeString(s.b[start:s.i]), false, nil
}

// contextValue reads the context field's value: null, or an object that
// PostgreSQL can store, returned compacted.
func (s *baselineJSON) contextValue(index int) ([]byte, *FieldError) {
	switch c := s.peek(); {
	case c == 'n':
		if !s.literal("null") {
			return nil, baselineSyntaxFieldError(s.err, index)
		}
		return nil, nil
	case c == '{':
	case isValueStart(c):
		return nil, &FieldError{Index: index, Field: "context", Reason: "must be a JSON object"}
	default:
		s.syntaxError("looking for beginning of value")
		return nil, baselineSyntaxFieldError(s.err, index)
	}
	ctx, p := s.context()
	switch {
	case p == nil:
		return ctx, nil
	case p.syntax:
		return nil, baselineSyntaxFieldError(p, index)
	}
	return nil, &FieldError{Index: index, Field: "context" + p.path, Reason: p.reason}
}

// context reads the object at s.i (an opening brace) and returns a compacted
// copy of it, or the problem that keeps PostgreSQL from storing it.
func (s *baselineJSON) context() ([]byte, *baselineProblem) {
	start := s.i
	s.spaced = false
	s.path = s.path[:0]
	if !s.object(1) {
		return nil, s.err
	}
	raw := s.b[start:s.i]
	if len(raw) > MaxContextBytes {
		return nil, &baselineProblem{at: start, reason: fmt.Sprintf("must be at most %d bytes", MaxContextBytes)}
	}
	if s.spaced {
		return baselineCompactJSON(make([]byte, 0, len(raw)), raw), nil
	}
	return bytes.Clone(raw), nil
}

// end checks that nothing but whitespace follows the entry just read.
func (s *baselineJSON) end(index int) *FieldError {
	s.ws()
	switch {
	case s.i == len(s.b):
		return nil
	case isValueStart(s.peek()):
		return &FieldError{Index: index, Reason: "must hold exactly one JSON object"}
	}
	return &FieldError{Index: index, Reason: "has trailing data after the JSON object"}
}

// baselineDecodeSingle decodes and validates one entry.
func baselineDecodeSingle(data []byte, now time.Time) (Entry, *FieldError) {
	s := baselineJSON{b: data}
	in, ctx, fe := s.entry(-1)
	if fe != nil {
		return Entry{}, fe
	}
	if fe := s.end(-1); fe != nil {
		return Entry{}, fe
	}
	return in.entry(ctx, now)
}

// baselineDecodeArray decodes and validates a JSON array of entries. All or nothing:
// the first bad entry is reported with its index.
func baselineDecodeArray(data []byte, now time.Time) ([]Entry, *FieldError) {
	s := baselineJSON{b: data}
	s.ws()
	switch c := s.peek(); {
	case c == '[':
	case isValueStart(c):
		return nil, &FieldError{Index: -1, Reason: "body must be a JSON array of entries"}
	default:
		s.syntaxError("looking for beginning of value")
		return nil, &FieldError{Index: -1, Reason: fmt.Sprintf("body is not valid JSON: %s at byte %d", s.err.reason, s.err.at)}
	}
	s.i++
	s.ws()
	if s.peek() == ']' {
		return nil, &FieldError{Index: -1, Reason: "a batch needs at least one entry"}
	}
	// Entries are at least 15 bytes ({"message":"m"}): do not over-allocate
	// for a body of a few big entries.
	entries := make([]Entry, 0, min(len(data)/128+1, MaxBatchEntries))
	for i := 0; ; i++ {
		if i == MaxBatchEntries {
			return nil, &FieldError{Index: -1, Reason: ErrTooManyEntries.Error()}
		}
		in, ctx, fe := s.entry(i)
		if fe != nil {
			return nil, fe
		}
		e, fe := in.entry(ctx, now)
		if fe != nil {
			return nil, withIndex(fe, i)
		}
		entries = append(entries, e)
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			continue
		case ']':
			s.i++
			s.ws()
			if s.i != len(data) {
				return nil, &FieldError{Index: -1, Reason: "body has trailing data after the JSON array"}
			}
			return entries, nil
		}
		s.syntaxError("after array element")
		return nil, &FieldError{Index: -1, Reason: fmt.Sprintf("body is not valid JSON: %s at byte %d", s.err.reason, s.err.at)}
	}
}

// baselineFieldOf returns the canonical name of the field whose key token is tok
// and the key itself.
func baselineFieldOf(tok []byte) (field, key string) {
	switch string(tok) {
	case `"level"`:
		return "level", "level"
	case `"message"`:
		return "message", "message"
	case `"context"`:
		return "context", "context"
	case `"source"`:
		return "source", "source"
	}
	key = baselineDecodeString(tok)
	for _, f := range entryFields {
		if strings.EqualFold(key, f) {
			return f, key
		}
	}
	return "", key
}
