package logs

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// PostgreSQL's limits for a number in jsonb, which it stores as a numeric
// (src/backend/utils/adt/numeric.c, the same in every version since 9.4):
// the weight, in base-10000 digits, is an int16 and the display scale 14
// bits, so a number has at most 131072 decimal digits before the decimal
// point and 16383 after it; an exponent of INT_MAX/2 or more overflows
// before anything else is looked at, even for zero.
const (
	pgNumericMaxIntDigits = 131072
	pgNumericMaxScale     = 16383
	pgNumericMaxExponent  = 1<<30 - 2 // INT_MAX/2 - 1
)

// strictJSON checks JSON for what PostgreSQL can store without changing it:
// strings are valid UTF-8 with no NUL and no unpaired UTF-16 surrogate
// (escaped or not), numbers fit a numeric, containers nest at most
// MaxContextDepth levels. It reads the input once and never rewrites it;
// the first problem ends the walk, with where it is.
type strictJSON struct {
	b []byte
	i int
	// spaced records whitespace between tokens: compaction is needed.
	spaced bool
	// path holds the keys and indexes leading to the value being read.
	path []pathStep
	err  *jsonProblem
}

// pathStep is one step of a path: an object key (its raw token, quotes
// included) or, when key is nil, an array index.
type pathStep struct {
	key   []byte
	index int
}

// jsonProblem is why a value was refused.
type jsonProblem struct {
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

// stringFault is what makes a string unstorable.
type stringFault uint8

const (
	faultNone stringFault = iota
	faultUTF8
	faultNUL
	faultSurrogate
	faultSyntax
	faultTruncated
)

func (f stringFault) valueReason() string {
	switch f {
	case faultUTF8:
		return "must be valid UTF-8"
	case faultNUL:
		return "must not contain NUL characters"
	case faultSurrogate:
		return `must not contain an unpaired UTF-16 surrogate (such as \ud800)`
	}
	return ""
}

func (f stringFault) keyReason() string {
	switch f {
	case faultUTF8:
		return "has a key that is not valid UTF-8"
	case faultNUL:
		return "has a key with a NUL character"
	case faultSurrogate:
		return "has a key with an unpaired UTF-16 surrogate"
	}
	return ""
}

// plainASCII marks the bytes a string holds as they are: printable ASCII
// other than the quote and the backslash.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (s *strictJSON) ws() {
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

func (s *strictJSON) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *strictJSON) syntaxError(what string) bool {
	if s.i >= len(s.b) {
		s.err = &jsonProblem{syntax: true, truncated: true, at: s.i, reason: "unexpected end of JSON input"}
		return false
	}
	s.err = &jsonProblem{syntax: true, at: s.i, reason: fmt.Sprintf("invalid character %s %s", quoteByte(s.b[s.i]), what)}
	return false
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("0x%02x", c)
}

func (s *strictJSON) refuse(at int, reason string) bool {
	s.err = &jsonProblem{at: at, path: s.pathString(), reason: reason}
	return false
}

// value reads one JSON value at depth (the outermost value is depth 1).
func (s *strictJSON) value(depth int) bool {
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

func (s *strictJSON) literal(lit string) bool {
	for k := 0; k < len(lit); k++ {
		if s.peek() != lit[k] {
			return s.syntaxError("in literal " + lit)
		}
		s.i++
	}
	return true
}

func (s *strictJSON) object(depth int) bool {
	if depth > MaxContextDepth {
		s.err = &jsonProblem{at: s.i, reason: fmt.Sprintf("must not nest objects and arrays deeper than %d levels", MaxContextDepth)}
		return false
	}
	s.i++ // {
	s.ws()
	if s.peek() == '}' {
		s.i++
		return true
	}
	s.path = append(s.path, pathStep{})
	for {
		s.ws()
		if s.peek() != '"' {
			return s.syntaxError("looking for beginning of object key string")
		}
		start := s.i
		if _, fault := s.str(); fault != faultNone {
			return s.stringFault(fault, start, true)
		}
		s.path[len(s.path)-1] = pathStep{key: s.b[start:s.i]}
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

func (s *strictJSON) array(depth int) bool {
	if depth > MaxContextDepth {
		s.err = &jsonProblem{at: s.i, reason: fmt.Sprintf("must not nest objects and arrays deeper than %d levels", MaxContextDepth)}
		return false
	}
	s.i++ // [
	s.ws()
	if s.peek() == ']' {
		s.i++
		return true
	}
	s.path = append(s.path, pathStep{})
	for n := 0; ; n++ {
		s.path[len(s.path)-1] = pathStep{index: n}
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

func (s *strictJSON) stringValue() bool {
	start := s.i
	if _, fault := s.str(); fault != faultNone {
		return s.stringFault(fault, start, false)
	}
	return true
}

// stringFault records fault found in the string token starting at start;
// a key's fault is reported at the object holding it.
func (s *strictJSON) stringFault(fault stringFault, start int, key bool) bool {
	switch fault {
	case faultSyntax:
		return s.syntaxError("in string literal")
	case faultTruncated:
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
func (s *strictJSON) str() (escaped bool, fault stringFault) {
	b := s.b
	i := s.i + 1
	for {
		for i < len(b) && plainASCII[b[i]] {
			i++
		}
		if i >= len(b) {
			s.i = i
			return escaped, faultTruncated
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return escaped, faultNone
		case c == '\\':
			escaped = true
			n, f := escapeAt(b, i)
			if f != faultNone {
				s.i = i
				return escaped, f
			}
			i += n
		case c < 0x20:
			s.i = i
			return escaped, faultSyntax
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				s.i = i
				return escaped, faultUTF8
			}
			i += size
		}
	}
}

// escapeAt checks the escape sequence at b[i] (a backslash) and returns its
// length. A \u escape of NUL or of half a surrogate pair is a fault.
func escapeAt(b []byte, i int) (int, stringFault) {
	if i+1 >= len(b) {
		return 0, faultTruncated
	}
	switch b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, faultNone
	case 'u':
	default:
		return 0, faultSyntax
	}
	r, f := hex4(b, i+2)
	switch {
	case f != faultNone:
		return 0, f
	case r == 0:
		return 0, faultNUL
	case r >= 0xdc00 && r < 0xe000:
		return 0, faultSurrogate
	case r < 0xd800 || r >= 0xdc00:
		return 6, faultNone
	}
	// A high surrogate: a low one must follow as the next escape.
	j := i + 6
	switch {
	case j >= len(b) || (b[j] == '\\' && j+1 >= len(b)):
		return 0, faultTruncated
	case b[j] != '\\' || b[j+1] != 'u':
		return 0, faultSurrogate
	}
	lo, f := hex4(b, j+2)
	if f != faultNone {
		return 0, f
	}
	if lo < 0xdc00 || lo >= 0xe000 {
		return 0, faultSurrogate
	}
	return 12, faultNone
}

// hex4 reads the four hex digits of a \u escape at b[i].
func hex4(b []byte, i int) (rune, stringFault) {
	if i+4 > len(b) {
		for ; i < len(b); i++ {
			if unhex(b[i]) < 0 {
				return 0, faultSyntax
			}
		}
		return 0, faultTruncated
	}
	var r rune
	for _, c := range b[i : i+4] {
		v := unhex(c)
		if v < 0 {
			return 0, faultSyntax
		}
		r = r<<4 | v
	}
	return r, faultNone
}

func unhex(c byte) rune {
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
func (s *strictJSON) number() bool {
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
func (s *strictJSON) pathString() string {
	var sb strings.Builder
	for _, st := range s.path {
		if st.key == nil {
			sb.WriteString("[" + strconv.Itoa(st.index) + "]")
			continue
		}
		key := decodeString(st.key)
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

func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// decodeString decodes a string token that str accepted.
func decodeString(tok []byte) string {
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
			r, _ := hex4(raw, i+2)
			i += 6
			if utf16.IsSurrogate(r) {
				lo, _ := hex4(raw, i+2)
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

// compactJSON removes the whitespace between the tokens of JSON that
// strictJSON accepted.
func compactJSON(dst, src []byte) []byte {
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
