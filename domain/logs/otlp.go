package logs

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// OTLPBatch is what an OpenTelemetry export request maps to: the entries
// to store, and the records refused because Eventline could not store them
// as sent (OTLP's partial success).
type OTLPBatch struct {
	// Entries are the storable records, in request order.
	Entries []Entry
	// Rejected counts the records left out.
	Rejected int
	// Reason says why the first rejected record was left out, and how many
	// others were ("" when none was).
	Reason string
	// Timed tells whether every record carries a time of its own
	// (time_unix_nano or observed_time_unix_nano): only then can two equal
	// requests be told to be a retry rather than two real events.
	Timed bool
}

// ErrInvalidUTF8 reports a string of an OTLP request that is not UTF-8:
// the protocol forbids it, so the request as a whole is malformed.
var ErrInvalidUTF8 = fmt.Errorf("a string field is not valid UTF-8")

// FromOTLP maps an OpenTelemetry logs export request to entries received at
// now: severity to level, body to message, service.name to source, the
// resource's and the record's attributes to context["resource"] and
// context["attributes"] (with the scope, the severity as sent and the
// event name beside them), trace and span ids and both times to their own
// fields. A record PostgreSQL could not store as sent (a NUL character, a
// message over MaxMessageBytes, a context too large or too deep) is left
// out and counted in Rejected; a string that is not UTF-8 fails the whole
// request with ErrInvalidUTF8.
func FromOTLP(ld plog.Logs, now time.Time) (OTLPBatch, error) {
	out := OTLPBatch{Entries: make([]Entry, 0, ld.LogRecordCount()), Timed: true}
	now = now.UTC()
	var firstReason string
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		var resJSON []byte
		var resErr error
		resJSON, resErr = appendMap(nil, res, 2)
		source := ""
		if v, ok := res.Get("service.name"); ok && v.Type() == pcommon.ValueTypeStr {
			source = v.Str()
		}
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			scopeJSON, scopeErr := appendScope(nil, sl.Scope())
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				if lr.Timestamp() == 0 && lr.ObservedTimestamp() == 0 {
					out.Timed = false
				}
				e, err := fromRecord(lr, source, resJSON, resErr, scopeJSON, scopeErr, now)
				if err == ErrInvalidUTF8 {
					return OTLPBatch{}, err
				}
				if err != nil {
					out.Rejected++
					if firstReason == "" {
						firstReason = fmt.Sprintf("resource_logs[%d].scope_logs[%d].log_records[%d]: %v", i, j, k, err)
					}
					continue
				}
				out.Entries = append(out.Entries, e)
			}
		}
	}
	switch {
	case out.Rejected == 1:
		out.Reason = firstReason
	case out.Rejected > 1:
		out.Reason = fmt.Sprintf("%s (and %d more records refused)", firstReason, out.Rejected-1)
	}
	return out, nil
}

// fromRecord maps one record; resErr and scopeErr are the failures, if
// any, of encoding its resource and scope.
func fromRecord(lr plog.LogRecord, source string, res []byte, resErr error, scope []byte, scopeErr error, now time.Time) (Entry, error) {
	switch {
	case resErr == ErrInvalidUTF8 || scopeErr == ErrInvalidUTF8:
		return Entry{}, ErrInvalidUTF8
	case resErr != nil:
		return Entry{}, fmt.Errorf("resource: %w", resErr)
	case scopeErr != nil:
		return Entry{}, fmt.Errorf("scope: %w", scopeErr)
	}
	sevText := lr.SeverityText()
	eventName := lr.EventName()
	if !utf8.ValidString(sevText) || !utf8.ValidString(eventName) || !utf8.ValidString(source) {
		return Entry{}, ErrInvalidUTF8
	}
	msg, err := bodyMessage(lr.Body(), eventName)
	if err != nil {
		return Entry{}, err
	}
	attrs, err := appendMap(nil, lr.Attributes(), 2)
	if err != nil {
		if err == ErrInvalidUTF8 {
			return Entry{}, err
		}
		return Entry{}, fmt.Errorf("attributes: %w", err)
	}
	ctx := make([]byte, 0, len(res)+len(attrs)+len(scope)+96)
	ctx = append(ctx, `{"resource":`...)
	ctx = append(ctx, res...)
	ctx = append(ctx, `,"attributes":`...)
	ctx = append(ctx, attrs...)
	if scope != nil {
		ctx = append(ctx, `,"scope":`...)
		ctx = append(ctx, scope...)
	}
	if sevText != "" {
		ctx = append(ctx, `,"severity_text":`...)
		ctx = appendString(ctx, sevText)
	}
	if n := lr.SeverityNumber(); n != 0 {
		ctx = append(ctx, `,"severity_number":`...)
		ctx = strconv.AppendInt(ctx, int64(n), 10)
	}
	if eventName != "" {
		ctx = append(ctx, `,"event_name":`...)
		ctx = appendString(ctx, eventName)
	}
	ctx = append(ctx, '}')
	if len(ctx) > MaxContextBytes {
		return Entry{}, fmt.Errorf("resource and attributes take %d bytes encoded, over %d", len(ctx), MaxContextBytes)
	}
	in := Input{Level: severityLevel(lr.SeverityNumber(), sevText), Message: &msg, Source: source}
	level, fe := in.check()
	if fe != nil {
		return Entry{}, fe
	}
	e := in.newEntry(level, ctx, now)
	if id := lr.TraceID(); !id.IsEmpty() {
		e.TraceID = id.String()
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		e.SpanID = id.String()
	}
	if ts := lr.Timestamp(); ts != 0 {
		e.Time = ts.AsTime().UTC()
	}
	if ts := lr.ObservedTimestamp(); ts != 0 {
		e.ObservedTime = ts.AsTime().UTC()
	}
	return e, nil
}

// emptyBody is the message of a record that has neither a body nor an
// event name: an entry always has a message.
const emptyBody = "(no body)"

// bodyMessage is a record's body as a message: a string as it is, any
// other value as its JSON encoding.
func bodyMessage(body pcommon.Value, eventName string) (string, error) {
	switch body.Type() {
	case pcommon.ValueTypeStr:
		s := body.Str()
		if !utf8.ValidString(s) {
			return "", ErrInvalidUTF8
		}
		if s == "" {
			break
		}
		return s, nil
	case pcommon.ValueTypeEmpty:
	default:
		b, err := appendValue(nil, body, 1)
		if err != nil {
			if err == ErrInvalidUTF8 {
				return "", err
			}
			return "", fmt.Errorf("body: %w", err)
		}
		return string(b), nil
	}
	if eventName != "" {
		return eventName, nil
	}
	return emptyBody, nil
}

// severityLevel maps an OpenTelemetry severity to a level, by the number
// when there is one (the inverse of the usual syslog-to-OTel mapping:
// NOTICE = INFO2, CRITICAL = ERROR2, ALERT = FATAL, EMERGENCY = FATAL2),
// else by the text, else info.
func severityLevel(n plog.SeverityNumber, text string) string {
	switch {
	case n >= 1 && n <= 8:
		return "debug"
	case n == 9:
		return "info"
	case n >= 10 && n <= 12:
		return "notice"
	case n >= 13 && n <= 16:
		return "warning"
	case n == 17:
		return "error"
	case n >= 18 && n <= 20:
		return "critical"
	case n == 21:
		return "alert"
	case n >= 22 && n <= 24:
		return "emergency"
	}
	t := strings.ToLower(strings.TrimSpace(text))
	for _, p := range []struct{ prefix, level string }{
		{"trace", "debug"}, {"debug", "debug"}, {"info", "info"}, {"notice", "notice"},
		{"warn", "warning"}, {"err", "error"}, {"crit", "critical"}, {"alert", "alert"},
		{"emerg", "emergency"}, {"fatal", "emergency"}, {"panic", "emergency"},
	} {
		if strings.HasPrefix(t, p.prefix) {
			return p.level
		}
	}
	return "info"
}

// appendScope encodes an instrumentation scope, or nothing (nil) when it
// is empty.
func appendScope(b []byte, s pcommon.InstrumentationScope) ([]byte, error) {
	if s.Name() == "" && s.Version() == "" && s.Attributes().Len() == 0 {
		return nil, nil
	}
	b = append(b, `{"name":`...)
	var err error
	if b, err = appendText(b, s.Name()); err != nil {
		return nil, err
	}
	if s.Version() != "" {
		b = append(b, `,"version":`...)
		if b, err = appendText(b, s.Version()); err != nil {
			return nil, err
		}
	}
	if s.Attributes().Len() > 0 {
		b = append(b, `,"attributes":`...)
		if b, err = appendMap(b, s.Attributes(), 3); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendMap encodes attributes as a JSON object at nesting level depth
// (the context object being level 1).
func appendMap(b []byte, m pcommon.Map, depth int) ([]byte, error) {
	if depth > MaxContextDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", MaxContextDepth)
	}
	b = append(b, '{')
	first := true
	var err error
	m.Range(func(k string, v pcommon.Value) bool {
		if !first {
			b = append(b, ',')
		}
		first = false
		if b, err = appendText(b, k); err != nil {
			return false
		}
		b = append(b, ':')
		b, err = appendValue(b, v, depth+1)
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// appendValue encodes an attribute value: strings, booleans and numbers as
// themselves (a double that is not finite as the string OTLP/JSON uses,
// "NaN" or "±Infinity"), bytes as base64, arrays and maps as JSON's.
func appendValue(b []byte, v pcommon.Value, depth int) ([]byte, error) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendText(b, v.Str())
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(b, v.Bool()), nil
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case pcommon.ValueTypeDouble:
		f := v.Double()
		switch {
		case math.IsNaN(f):
			return append(b, `"NaN"`...), nil
		case math.IsInf(f, 1):
			return append(b, `"Infinity"`...), nil
		case math.IsInf(f, -1):
			return append(b, `"-Infinity"`...), nil
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64), nil
	case pcommon.ValueTypeBytes:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes().AsRaw())
		return append(b, '"'), nil
	case pcommon.ValueTypeSlice:
		if depth > MaxContextDepth {
			return nil, fmt.Errorf("nested deeper than %d levels", MaxContextDepth)
		}
		s := v.Slice()
		b = append(b, '[')
		for i := 0; i < s.Len(); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, s.At(i), depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case pcommon.ValueTypeMap:
		return appendMap(b, v.Map(), depth)
	}
	return append(b, "null"...), nil
}

// appendText encodes s as a JSON string, refusing what PostgreSQL cannot
// store: text that is not UTF-8 (ErrInvalidUTF8) and NUL characters.
func appendText(b []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, ErrInvalidUTF8
	}
	if strings.IndexByte(s, 0) >= 0 {
		return nil, fmt.Errorf("a string holds a NUL character, which PostgreSQL cannot store")
	}
	return appendString(b, s), nil
}

// appendString encodes valid UTF-8 s as a JSON string.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
