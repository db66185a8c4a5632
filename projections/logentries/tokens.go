package logentries

import (
	"bytes"
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
	kind, canon, ok := canonicalScalar(value)
	if !ok {
		return 0, false
	}
	return leafToken(path, key, kind, canon), true
}

// canonicalScalar is how a JSON scalar compares in jsonb: strings by their
// unescaped text, numbers by value (42 = 42.0 = 4.2e1; the float64 nearest
// stands for it, so equal numbers have equal forms), booleans as they are.
func canonicalScalar(v []byte) (kind byte, canon string, ok bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return 0, "", false
	}
	switch v[0] {
	case '"':
		s, err := jsontext.AppendUnquote(nil, v)
		if err != nil {
			return 0, "", false
		}
		return 's', string(s), true
	case 't', 'f':
		if string(v) == "true" || string(v) == "false" {
			return 'b', string(v), true
		}
		return 0, "", false
	case 'n', '{', '[':
		return 0, "", false
	default:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil && !math.IsInf(f, 0) {
			return 0, "", false
		}
		if f == 0 {
			f = 0 // -0 equals 0
		}
		return 'n', strconv.FormatFloat(f, 'g', -1, 64), true
	}
}

func leafToken(path byte, key string, kind byte, canon string) int32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte{path})
	_, _ = h.Write([]byte(key))
	_, _ = h.Write([]byte{0, kind})
	_, _ = h.Write([]byte(canon))
	return int32(leafBit | h.Sum32()&(leafBit-1))
}

// tokenSet gathers the distinct tokens of a block's entries. The ASCII
// trigrams, most of them, are kept in a bitmap (2^21 bits); the others in
// a map. list holds every token once, in the order first seen.
type tokenSet struct {
	ascii []uint64
	other map[int32]struct{}
	list  []int32
	dec   jsontext.Decoder
	rd    bytes.Reader
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
// context.attributes.K and context.resource.K. A context that does not
// read as a JSON object adds nothing (no containment filter matches it).
func (s *tokenSet) addContext(b []byte) {
	s.rd.Reset(b)
	s.dec.Reset(&s.rd)
	if tok, err := s.dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return
	}
	s.addObject(LeafTop, true)
}

// addObject adds the scalars of the object being read (its '{' read), up
// to its end; the objects at attributes and resource too when top.
func (s *tokenSet) addObject(path byte, top bool) bool {
	for {
		tok, err := s.dec.ReadToken()
		if err != nil {
			return false
		}
		if tok.Kind() == '}' {
			return true
		}
		key := tok.String()
		switch s.dec.PeekKind() {
		case '{':
			inner := byte(0)
			if top && key == "attributes" {
				inner = LeafAttributes
			} else if top && key == "resource" {
				inner = LeafResource
			}
			if inner == 0 {
				if s.dec.SkipValue() != nil {
					return false
				}
				continue
			}
			if _, err := s.dec.ReadToken(); err != nil || !s.addObject(inner, false) {
				return false
			}
		case '[':
			if s.dec.SkipValue() != nil {
				return false
			}
		default:
			v, err := s.dec.ReadValue()
			if err != nil {
				return false
			}
			if t, ok := LeafToken(path, key, v); ok {
				s.add(t)
			}
		}
	}
}
