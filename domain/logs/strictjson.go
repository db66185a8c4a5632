package logs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
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

// jsonReader reads JSON for what PostgreSQL can store without changing it.
// jsontext's decoder refuses what is not JSON, invalid UTF-8 and unpaired
// UTF-16 surrogates (escaped or not); on top of it come PostgreSQL's own
// limits: no NUL (\u0000) in a string, numbers that fit a numeric,
// containers nested at most MaxContextDepth levels. Nothing read is
// rewritten; the first problem ends the walk, with where it is.
type jsonReader struct {
	data []byte
	src  bytes.Buffer
	dec  jsontext.Decoder
}

// readers keeps decoders, and the stacks they grow, between requests.
var readers = sync.Pool{New: func() any { return new(jsonReader) }}

// newJSONReader reads data; release it when done. The decoder parses data
// in place (it never writes to a bytes.Buffer's bytes) and, as jsonb,
// allows duplicate keys.
func newJSONReader(data []byte) *jsonReader {
	r := readers.Get().(*jsonReader)
	r.data, r.src = data, *bytes.NewBuffer(data)
	r.dec.Reset(&r.src, jsontext.AllowDuplicateNames(true))
	return r
}

// release returns r to the pool, holding on to nothing it read.
func (r *jsonReader) release() {
	r.data, r.src = nil, bytes.Buffer{}
	r.dec.Reset(&r.src)
	readers.Put(r)
}

// peek returns the kind of the next token, or 0 when there is none to
// read (the next read says why).
func (r *jsonReader) peek() jsontext.Kind {
	switch k := r.dec.PeekKind(); k {
	case 'n', 'f', 't', '"', '0', '{', '}', '[', ']':
		return k
	}
	return 0
}

// jsonProblem is why a value was refused.
type jsonProblem struct {
	// syntax is true when the input is not JSON at all.
	syntax bool
	// truncated is true when the input ended inside a value.
	truncated bool
	// at is the byte offset of the problem.
	at int64
	// path leads to the offending value from the value checked: ".a[2]".
	path   string
	reason string
}

// syntaxProblem describes an error of the decoder that is not about
// what a string holds.
func syntaxProblem(err error) *jsonProblem {
	p := &jsonProblem{syntax: true, reason: err.Error()}
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		p.at, p.reason = se.ByteOffset, se.Err.Error()
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		p.truncated, p.reason = true, "unexpected end of JSON input"
	}
	return p
}

// stringFault is what makes a string unstorable.
type stringFault uint8

const (
	faultNone stringFault = iota
	faultUTF8
	faultNUL
	faultSurrogate
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

// readString reads the string token the decoder has peeked (a key or a
// value). A string the decoder refuses for its text comes back as a fault
// with the decoder's error (whose pointer leads to it); any other error
// is syntax.
func (r *jsonReader) readString() (jsontext.Value, stringFault, error) {
	v, err := r.dec.ReadValue()
	if err != nil {
		return nil, r.faultOf(err), err
	}
	if escapesNUL(v) {
		return v, faultNUL, nil
	}
	return v, faultNone, nil
}

// faultOf tells, from the byte a string's decode error points at, whether
// the string holds invalid UTF-8 or an unpaired surrogate escape.
func (r *jsonReader) faultOf(err error) stringFault {
	var se *jsontext.SyntacticError
	if !errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || se.ByteOffset >= int64(len(r.data)) {
		return faultNone
	}
	at := r.data[se.ByteOffset:]
	switch {
	case at[0] >= utf8.RuneSelf:
		return faultUTF8
	case len(at) >= 6 && at[0] == '\\' && at[1] == 'u':
		if u, err := strconv.ParseUint(string(at[2:6]), 16, 16); err == nil && u >= 0xd800 && u < 0xe000 {
			return faultSurrogate
		}
	}
	return faultNone
}

// escapesNUL reports whether the string token s holds \u0000, the one
// character JSON allows and jsonb refuses (a raw NUL is not JSON).
func escapesNUL(s []byte) bool {
	for i := bytes.IndexByte(s, '\\'); i >= 0; i = bytes.IndexByte(s, '\\') {
		if s[i+1] == 'u' && string(s[i+2:i+6]) == "0000" {
			return true
		}
		s = s[i+2:]
	}
	return false
}

// unquote returns the text of a string token the decoder accepted.
func unquote(tok []byte) string {
	if bytes.IndexByte(tok, '\\') < 0 {
		return string(tok[1 : len(tok)-1])
	}
	b, _ := jsontext.AppendUnquote(nil, tok)
	return string(b)
}

// context reads the object the decoder has peeked and returns a compacted
// copy of it, or the problem that keeps PostgreSQL from storing it. Paths
// in problems start at the object.
func (r *jsonReader) context() ([]byte, *jsonProblem) {
	base := r.dec.StackDepth()
	if _, err := r.dec.ReadToken(); err != nil {
		return nil, syntaxProblem(err)
	}
	start := r.dec.InputOffset() - 1
	// compact is the object's length without whitespace.
	compact := int64(1)
	for r.dec.StackDepth() > base {
		level := r.dec.StackDepth()
		k := r.peek()
		if k == '}' || k == ']' {
			if _, err := r.dec.ReadToken(); err != nil {
				return nil, syntaxProblem(err)
			}
			compact++
			continue
		}
		in, n := r.dec.StackIndex(level)
		key := in == '{' && n%2 == 0
		if n > 0 && (in == '[' || key) {
			compact++ // the comma
		}
		if key {
			compact++ // the colon
		}
		switch k {
		case '{', '[':
			if level-base >= MaxContextDepth {
				return nil, &jsonProblem{at: r.dec.InputOffset(), reason: fmt.Sprintf("must not nest objects and arrays deeper than %d levels", MaxContextDepth)}
			}
			if _, err := r.dec.ReadToken(); err != nil {
				return nil, syntaxProblem(err)
			}
			compact++
			continue
		case '"':
			v, fault, err := r.readString()
			switch {
			case fault == faultNone && err != nil:
				return nil, syntaxProblem(err)
			case fault != faultNone && key:
				return nil, r.refuse(r.objectPointer(err), base, fault.keyReason())
			case fault != faultNone:
				return nil, r.refuse(r.pointer(err), base, fault.valueReason())
			}
			compact += int64(len(v))
			continue
		}
		v, err := r.dec.ReadValue()
		if err != nil {
			return nil, syntaxProblem(err)
		}
		if k == '0' {
			if reason := numericFault(v); reason != "" {
				return nil, r.refuse(r.dec.StackPointer(), base, reason)
			}
		}
		compact += int64(len(v))
	}
	raw := r.data[start:r.dec.InputOffset()]
	if len(raw) > MaxContextBytes {
		return nil, &jsonProblem{at: start, reason: fmt.Sprintf("must be at most %d bytes", MaxContextBytes)}
	}
	ctx := jsontext.Value(bytes.Clone(raw))
	if int64(len(raw)) != compact {
		if err := ctx.Compact(); err != nil {
			return nil, syntaxProblem(err)
		}
	}
	return ctx, nil
}

// pointer leads to the value a decode error is about, or else to the
// value just read.
func (r *jsonReader) pointer(err error) jsontext.Pointer {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		return se.JSONPointer
	}
	return r.dec.StackPointer()
}

// objectPointer leads to the object whose key a decode error (or, without
// one, the key just read) is about.
func (r *jsonReader) objectPointer(err error) jsontext.Pointer {
	if err != nil {
		return r.pointer(err)
	}
	return r.dec.StackPointer().Parent()
}

func (r *jsonReader) refuse(p jsontext.Pointer, base int, reason string) *jsonProblem {
	return &jsonProblem{at: r.dec.InputOffset(), path: r.pathString(p, base), reason: reason}
}

// pathString renders the part of p below stack level base: .key for plain
// keys, ["key"] for others, [n] for indexes. Long keys are cut short.
func (r *jsonReader) pathString(p jsontext.Pointer, base int) string {
	var sb strings.Builder
	level := 0
	for tok := range p.Tokens() {
		level++
		if level <= base {
			continue
		}
		if kind, _ := r.dec.StackIndex(level); kind == '[' {
			sb.WriteString("[" + tok + "]")
			continue
		}
		if len(tok) > 64 {
			cut := 64
			for cut > 0 && !utf8.RuneStart(tok[cut]) {
				cut--
			}
			tok = tok[:cut] + "…"
		}
		if plainKey(tok) {
			sb.WriteString("." + tok)
			continue
		}
		q, _ := json.Marshal(tok)
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

// numericFault checks a number token against numeric's limits, computed as
// PostgreSQL's numeric input does: the display scale is the digits written
// after the point minus the exponent, and the first non-zero digit may
// stand at most 131071 places before the point. It returns why the number
// does not fit, or "".
func numericFault(num []byte) string {
	i := 0
	if num[0] == '-' {
		i++
	}
	intStart := i
	for i < len(num) && num[i] >= '0' && num[i] <= '9' {
		i++
	}
	intDigits := i - intStart
	// firstNonZero counts the digits before the first non-zero one (-1: none).
	firstNonZero := -1
	if num[intStart] != '0' {
		firstNonZero = 0
	}
	fracDigits := 0
	if i < len(num) && num[i] == '.' {
		i++
		fracStart := i
		for i < len(num) && num[i] >= '0' && num[i] <= '9' {
			if firstNonZero < 0 && num[i] != '0' {
				firstNonZero = intDigits + i - fracStart
			}
			i++
		}
		fracDigits = i - fracStart
	}
	exp := int64(0)
	if i < len(num) { // e or E
		i++
		neg := num[i] == '-'
		if num[i] == '+' || neg {
			i++
		}
		for ; i < len(num); i++ {
			if exp <= pgNumericMaxExponent {
				exp = exp*10 + int64(num[i]-'0')
			}
		}
		if neg {
			exp = -exp
		}
	}
	switch {
	case exp > pgNumericMaxExponent || exp < -pgNumericMaxExponent:
		return "is a number beyond PostgreSQL's numeric range (exponent too large)"
	case int64(fracDigits)-exp > pgNumericMaxScale:
		return fmt.Sprintf("is a number with more than %d digits after the decimal point, beyond PostgreSQL's numeric range", pgNumericMaxScale)
	case firstNonZero >= 0 && int64(intDigits-1-firstNonZero)+exp >= pgNumericMaxIntDigits:
		return fmt.Sprintf("is a number with more than %d digits before the decimal point, beyond PostgreSQL's numeric range", pgNumericMaxIntDigits)
	}
	return ""
}
