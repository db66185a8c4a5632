package reactor

import (
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/valyala/fastjson"

	"github.com/eventline/eventline/eventstore"
)

// parsers reuse fastjson's parse buffers across messages.
var parsers fastjson.ParserPool

// decodeEnvelope decodes an envelope as eventstore.UnmarshalEnvelope does,
// with fastjson: encoding/json's reflection was 40 % of a hop's handling
// in bench/reactor. A body it cannot decode falls back to
// UnmarshalEnvelope, so that the error and the rules are the store's.
func decodeEnvelope(b []byte) (eventstore.Envelope, error) {
	// Parse is lenient about string escapes; Validate is not.
	if fastjson.ValidateBytes(b) != nil {
		return eventstore.UnmarshalEnvelope(b)
	}
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(b)
	if err != nil {
		return eventstore.UnmarshalEnvelope(b)
	}
	env, err := envelopeFrom(v)
	if err != nil {
		return eventstore.UnmarshalEnvelope(b)
	}
	return env, nil
}

var errFallback = errors.New("decode with encoding/json")

// envelopeKeys are the keys of an envelope, each with a bit.
var envelopeKeys = map[string]int{"id": 1, "type": 2, "occurred_at": 4, "correlation_id": 8, "causation_id": 16, "data": 32}

// validType reports whether t has eventstore's shape of an event type name,
// `^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\.v[0-9]+$`, without a regexp.
func validType(t string) bool {
	words := strings.Split(t, ".")
	if len(words) < 3 {
		return false
	}
	for _, w := range words[:len(words)-1] {
		if w == "" || w[0] < 'a' || w[0] > 'z' {
			return false
		}
		for i := 1; i < len(w); i++ {
			if c := w[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
				return false
			}
		}
	}
	v := words[len(words)-1]
	if len(v) < 2 || v[0] != 'v' {
		return false
	}
	for i := 1; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

func envelopeFrom(v *fastjson.Value) (eventstore.Envelope, error) {
	var env eventstore.Envelope
	o, err := v.Object()
	if err != nil {
		return env, errFallback
	}
	// Anything encoding/json reads otherwise goes to it: a key it would
	// match case-insensitively or take the last of, invalid UTF-8.
	seen := 0
	ok := true
	o.Visit(func(k []byte, _ *fastjson.Value) {
		bit, known := envelopeKeys[string(k)]
		if !known || seen&bit != 0 {
			ok = false
		}
		seen |= bit
	})
	if !ok {
		return env, errFallback
	}
	str := func(key string) string {
		f := o.Get(key)
		if f == nil {
			return ""
		}
		s, err := f.StringBytes()
		if err != nil || !utf8.Valid(s) {
			ok = false
		}
		return string(s)
	}
	id, err := uuid.Parse(str("id"))
	if err != nil || id == uuid.Nil {
		return env, errFallback
	}
	env.ID = id
	env.Type = str("type")
	if at := str("occurred_at"); at != "" {
		if env.OccurredAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return env, errFallback
		}
	}
	env.CorrelationID = str("correlation_id")
	env.CausationID = str("causation_id")
	data := o.Get("data")
	if !ok || env.Type == "" || data == nil {
		return env, errFallback
	}
	env.Data = data.MarshalTo(nil)
	if !validType(env.Type) {
		return env, errFallback
	}
	return env, nil
}
