package logentries

import (
	"bytes"
	"encoding/binary"
	"hash/fnv"
	"math"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// Search tokens (issue 24). The entries are not indexed one by one: a
// block of consecutive entries (see blocks.go) records the set of tokens
// its entries hold, and a search reads only the blocks whose set holds
// every token of its query. A token is an int32:
//
//   - a trigram, three consecutive characters of a word of the message
//     (a run of letters and digits), case-folded: in [0, 2^30). Three ASCII
//     characters are packed exactly (7 bits each); others are hashed.
//   - a context leaf, a scalar value at context.K, context.attributes.K or
//     context.resource.K (what the attr., resource. and ctx. filters test),
//     hashed with its path: in [2^30, 2^31).
//
// A block's set is a superset test only: a hash may collide and a block
// holding every trigram of a word need not hold the word, so a search still
// tests each entry of the blocks it reads (message ILIKE, context @>).
// What must never happen is a block without a token its entry matches:
// message ILIKE '%q%' matching an entry whose block lacks one of q's
// trigrams. Hence: q's word runs are inside the message's word runs (a
// letter or digit of q matches only a letter or digit, see fold), so each
// trigram of q is a trigram of the message; and characters PostgreSQL's
// ILIKE takes as equal (equal lower()) fold to the same character here.

const (
	leafBit         = 1 << 30
	asciiTrigrams   = 1 << 21 // three 7-bit characters
	otherTrigramMod = leafBit - asciiTrigrams
)

// fold is the character a search compares r as: its lower case, then the
// smallest character of its case-folding orbit (an ASCII letter's lower
// case when the orbit has one). Characters whose lower cases are equal fold
// to the same character; the Kelvin sign folds to 'k' as PostgreSQL's
// lower() makes it. Whether a character belongs to a word is decided on
// the folded one, so that characters ILIKE takes as equal are both in
// words or both not.
func fold(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	r = unicode.ToLower(r)
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	if least < utf8.RuneSelf {
		return fold(least)
	}
	return least
}

// isWord tells whether a folded character belongs to a word.
func isWord(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// trigram is the token of three folded characters.
func trigram(a, b, c rune) int32 {
	if a|b|c < utf8.RuneSelf {
		return int32(a)<<14 | int32(b)<<7 | int32(c)
	}
	var buf [3 * utf8.UTFMax]byte
	n := utf8.EncodeRune(buf[:], a)
	n += utf8.EncodeRune(buf[n:], b)
	n += utf8.EncodeRune(buf[n:], c)
	h := fnv.New32a()
	_, _ = h.Write(buf[:n])
	return asciiTrigrams + int32(h.Sum32()%otherTrigramMod)
}

// eachTrigram calls add with each trigram of the words of s.
func eachTrigram(s string, add func(int32)) {
	var a, b rune
	run := 0 // word characters seen in a row, up to 2
	for i := 0; i < len(s); {
		var r rune
		if c := s[i]; c < utf8.RuneSelf {
			r = rune(c)
			i++
		} else {
			var size int
			r, size = utf8.DecodeRuneInString(s[i:])
			i += size
		}
		r = fold(r)
		if !isWord(r) {
			run = 0
			continue
		}
		if run == 2 {
			add(trigram(a, b, r))
			a, b = b, r
			continue
		}
		if run == 0 {
			a = r
		} else {
			b = r
		}
		run++
	}
}

// QueryTokens returns the tokens a block must hold for an entry of it to
// match message ILIKE '%q%': the trigrams of q's words, without
// repetition. None when q has no word of three characters or more (no
// block can be skipped for it).
func QueryTokens(q string) []int32 {
	seen := map[int32]bool{}
	var out []int32
	eachTrigram(q, func(t int32) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	})
	return out
}

// Context leaf paths: where a scalar value sits in an entry's context.
const (
	LeafTop        = 'c' // context.K
	LeafAttributes = 'a' // context.attributes.K
	LeafResource   = 'r' // context.resource.K
)

// LeafToken is the token of value (a JSON scalar: string, number, true or
// false) under key at path (LeafTop, LeafAttributes or LeafResource). ok is
// false for a value no context filter can match (null, an object, an
// array, invalid JSON).
func LeafToken(path byte, key string, value []byte) (int32, bool) {
	var buf []byte
	kind, canon, ok := canonicalScalar(bytes.TrimSpace(value), &buf)
	if !ok {
		return 0, false
	}
	return leafToken(path, []byte(key), kind, canon), true
}

// canonicalScalar is how a JSON scalar compares in jsonb: strings by their
// unescaped text, numbers by value (42 = 42.0 = 4.2e1: the bits of the
// float64 nearest stand for it, so equal numbers have equal forms),
// booleans as they are. buf is scratch space for an unescaped string.
func canonicalScalar(v []byte, buf *[]byte) (kind byte, canon []byte, ok bool) {
	if len(v) == 0 {
		return 0, nil, false
	}
	switch v[0] {
	case '"':
		if bytes.IndexByte(v, '\\') < 0 {
			return 's', v[1 : len(v)-1], len(v) >= 2 && v[len(v)-1] == '"'
		}
		out, err := jsontext.AppendUnquote((*buf)[:0], v)
		if err != nil {
			return 0, nil, false
		}
		*buf = out
		return 's', out, true
	case 't', 'f':
		if string(v) == "true" || string(v) == "false" {
			return 'b', v, true
		}
		return 0, nil, false
	case 'n', '{', '[':
		return 0, nil, false
	default:
		f, ok := smallInteger(v)
		if !ok {
			var err error
			f, err = strconv.ParseFloat(string(v), 64)
			if err != nil && !math.IsInf(f, 0) {
				return 0, nil, false
			}
		}
		if f == 0 {
			f = 0 // -0 equals 0
		}
		*buf = binary.BigEndian.AppendUint64((*buf)[:0], math.Float64bits(f))
		return 'n', *buf, true
	}
}

// smallInteger reads an integer of at most 15 digits (exact in a float64),
// the common number in a context, without strconv's allocation.
func smallInteger(v []byte) (float64, bool) {
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	if len(v) == 0 || len(v) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return float64(n), true
}

// leafToken hashes (FNV-1a) the path, key, kind and canonical value.
func leafToken(path byte, key []byte, kind byte, canon []byte) int32 {
	const prime = 16777619
	h := uint32(2166136261)
	h = (h ^ uint32(path)) * prime
	for _, c := range key {
		h = (h ^ uint32(c)) * prime
	}
	h = (h ^ 0) * prime
	h = (h ^ uint32(kind)) * prime
	for _, c := range canon {
		h = (h ^ uint32(c)) * prime
	}
	return int32(leafBit | h&(leafBit-1))
}

// tokenSet gathers the distinct tokens of a block's entries. The ASCII
// trigrams, most of them, are kept in a bitmap (2^21 bits); the others in
// a map. list holds every token once, in the order first seen.
type tokenSet struct {
	ascii  []uint64
	other  map[int32]struct{}
	list   []int32
	keyBuf []byte // scratch: an unescaped key
	valBuf []byte // scratch: a canonical value
}

func (s *tokenSet) add(t int32) {
	if t < asciiTrigrams {
		if s.ascii == nil {
			s.ascii = make([]uint64, asciiTrigrams/64)
		}
		w, bit := t/64, uint64(1)<<(t%64)
		if s.ascii[w]&bit != 0 {
			return
		}
		s.ascii[w] |= bit
	} else {
		if _, ok := s.other[t]; ok {
			return
		}
		if s.other == nil {
			s.other = map[int32]struct{}{}
		}
		s.other[t] = struct{}{}
	}
	s.list = append(s.list, t)
}

// len is how many distinct tokens the set holds.
func (s *tokenSet) len() int { return len(s.list) }

// take returns the tokens and empties the set for the next block.
func (s *tokenSet) take() []int32 {
	out := s.list
	for _, t := range out {
		if t < asciiTrigrams {
			s.ascii[t/64] = 0
		}
	}
	clear(s.other)
	s.list = nil
	return out
}

// addEntry adds the tokens of an entry's message and context.
func (s *tokenSet) addEntry(message string, context []byte) {
	eachTrigram(message, s.add)
	if len(context) > 0 {
		s.addContext(context)
	}
}

// addContext adds a token for each scalar at context.K,
// context.attributes.K and context.resource.K. The context is valid JSON
// (checked at ingest; PostgreSQL would refuse it as jsonb otherwise), so a
// scan that only finds the members' boundaries is enough: it was a fifth
// of serve's CPU through jsontext's decoder. One that is not an object
// adds nothing (no containment filter matches it).
func (s *tokenSet) addContext(b []byte) {
	sc := jsonScan{b: b}
	sc.ws()
	if sc.peek() != '{' {
		return
	}
	sc.i++
	s.addMembers(&sc, LeafTop)
}

// addMembers adds the scalars of the object being scanned (its '{' read),
// up to its end; at the top level, those of the objects at attributes and
// resource too. It reports false on input that is not valid JSON.
func (s *tokenSet) addMembers(sc *jsonScan, path byte) bool {
	sc.ws()
	if sc.peek() == '}' {
		sc.i++
		return true
	}
	for {
		sc.ws()
		key, ok := sc.str()
		if !ok {
			return false
		}
		if bytes.IndexByte(key, '\\') >= 0 {
			if s.keyBuf, ok = appendUnquoted(s.keyBuf[:0], key); !ok {
				return false
			}
			key = s.keyBuf
		} else {
			key = key[1 : len(key)-1]
		}
		sc.ws()
		if sc.peek() != ':' {
			return false
		}
		sc.i++
		sc.ws()
		switch c := sc.peek(); {
		case c == '{' && path == LeafTop && (string(key) == "attributes" || string(key) == "resource"):
			sc.i++
			inner := byte(LeafAttributes)
			if string(key) == "resource" {
				inner = LeafResource
			}
			if !s.addMembers(sc, inner) {
				return false
			}
		case c == '{' || c == '[':
			if !sc.skipNested() {
				return false
			}
		default:
			start := sc.i
			if !sc.skipScalar() {
				return false
			}
			if kind, canon, ok := canonicalScalar(sc.b[start:sc.i], &s.valBuf); ok {
				s.add(leafToken(path, key, kind, canon))
			}
		}
		sc.ws()
		switch sc.peek() {
		case ',':
			sc.i++
		case '}':
			sc.i++
			return true
		default:
			return false
		}
	}
}

// appendUnquoted appends the text of the JSON string raw (quotes included).
func appendUnquoted(b, raw []byte) ([]byte, bool) {
	out, err := jsontext.AppendUnquote(b, raw)
	return out, err == nil
}

// jsonScan finds the boundaries of JSON values in b, assumed valid; it
// never reads past b and reports false where b is not as expected.
type jsonScan struct {
	b []byte
	i int
}

func (sc *jsonScan) peek() byte {
	if sc.i < len(sc.b) {
		return sc.b[sc.i]
	}
	return 0
}

func (sc *jsonScan) ws() {
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// str returns the string at i, quotes included, escapes as they are.
func (sc *jsonScan) str() ([]byte, bool) {
	if sc.peek() != '"' {
		return nil, false
	}
	for j := sc.i + 1; j < len(sc.b); j++ {
		switch sc.b[j] {
		case '\\':
			j++
		case '"':
			raw := sc.b[sc.i : j+1]
			sc.i = j + 1
			return raw, true
		}
	}
	return nil, false
}

// skipScalar passes a string, number, true, false or null.
func (sc *jsonScan) skipScalar() bool {
	if sc.peek() == '"' {
		_, ok := sc.str()
		return ok
	}
	start := sc.i
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return sc.i > start
		}
		sc.i++
	}
	return sc.i > start
}

// skipNested passes an object or an array.
func (sc *jsonScan) skipNested() bool {
	depth := 0
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case '"':
			if _, ok := sc.str(); !ok {
				return false
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				sc.i++
				return true
			}
		}
		sc.i++
	}
	return false
}
