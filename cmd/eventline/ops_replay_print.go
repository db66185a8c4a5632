package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/eventline/eventline/eventstore"
)

// replayPrinter writes replayed events and the gaps between them.
type replayPrinter struct {
	w *bufio.Writer
	o replayOptions
	// start is the first sequence of the range; since means it is only known
	// once the first event arrives.
	start   uint64
	since   bool
	seen    bool
	last    uint64
	printed uint64
	stopped bool
	// gaps are deleted ranges still to report (filtered reads).
	gaps     [][2]uint64
	reported []string
	header   bool
	buf      []byte
}

var envelopePrefix = []byte(`{"id":"`)

// event prints one event if it passes the filters.
func (p *replayPrinter) event(ev eventstore.RawEvent) error {
	if !p.seen && p.since {
		p.start = ev.Seq
	}
	p.seen = true
	if err := p.flushGaps(ev.Seq-1, false); err != nil {
		return err
	}
	p.last = ev.Seq
	if p.o.aggregate != "" && !strings.HasSuffix(ev.Subject, "."+p.o.aggregate) {
		return nil
	}
	var typ string
	if len(p.o.types) > 0 {
		if typ = ev.Header.Get(eventstore.HeaderType); typ == "" {
			if env, err := eventstore.UnmarshalEnvelope(ev.Data); err == nil {
				typ = env.Type
			}
		}
		if !slices.Contains(p.o.types, typ) && !p.packs(ev.Data) {
			return nil
		}
	}
	if p.o.asJSON {
		p.jsonLine(ev, typ)
	} else {
		p.textLine(ev, typ)
	}
	p.printed++
	if p.o.limit > 0 && p.printed >= p.o.limit {
		p.stopped = true
		return eventstore.ErrStop
	}
	return nil
}

// packedPrefix starts the payload of an event that packs several (a saga's
// saga.decided.v1, a product's product.batch.v1): {"events":[{"type",
// "data"},…]}.
var packedPrefix = []byte(`{"events":[`)

// packs reports whether the event stored as data packs an event of one of
// the types asked for: it is then printed whole.
func (p *replayPrinter) packs(data []byte) bool {
	env, err := eventstore.UnmarshalEnvelope(data)
	if err != nil || !bytes.HasPrefix(env.Data, packedPrefix) {
		return false
	}
	var packed struct {
		Events []struct {
			Type string `json:"type"`
		} `json:"events"`
	}
	if json.Unmarshal(env.Data, &packed) != nil {
		return false
	}
	for _, e := range packed.Events {
		if slices.Contains(p.o.types, e.Type) {
			return true
		}
	}
	return false
}

// jsonLine splices the stored envelope (already JSON, fields id, type,
// occurred_at, correlation_id, causation_id, data) after seq, time and
// subject, without decoding it.
func (p *replayPrinter) jsonLine(ev eventstore.RawEvent, typ string) {
	b := append(p.buf[:0], `{"seq":`...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, `,"time":"`...)
	b = ev.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","subject":`...)
	b = appendJSONString(b, ev.Subject)
	// jsontext validates several times faster than encoding/json, which was
	// a quarter of a replay's CPU; it also refuses invalid UTF-8 and
	// duplicate names, which would not be copied into a line as they are.
	if bytes.HasPrefix(ev.Data, envelopePrefix) && jsontext.Value(ev.Data).IsValid() {
		b = append(b, ',')
		b = append(b, ev.Data[1:]...)
	} else {
		if typ == "" {
			typ = ev.Header.Get(eventstore.HeaderType)
		}
		b = append(b, `,"type":`...)
		b = appendJSONString(b, typ)
		b = append(b, `,"error":"not a valid event envelope","raw":`...)
		b = appendJSONString(b, string(ev.Data))
		b = append(b, '}')
	}
	b = append(b, '\n')
	p.buf = b
	_, _ = p.w.Write(b)
}

func (p *replayPrinter) textLine(ev eventstore.RawEvent, typ string) {
	if !p.header {
		p.header = true
		fmt.Fprintf(p.w, "%-8s  %-24s  %-20s  %-28s  %s\n", "SEQ", "TIME", "SUBJECT", "TYPE", "DATA")
	}
	data := ""
	env, err := eventstore.UnmarshalEnvelope(ev.Data)
	if err != nil {
		data = "<" + err.Error() + ">"
		if typ == "" {
			typ = ev.Header.Get(eventstore.HeaderType)
		}
	} else {
		typ = env.Type
		var c bytes.Buffer
		if json.Compact(&c, env.Data) == nil {
			data = c.String()
		} else {
			data = string(env.Data)
		}
	}
	if !p.o.full {
		data = cutData(data, replayDataWidth)
	}
	fmt.Fprintf(p.w, "%-8d  %-24s  %-20s  %-28s  %s\n", ev.Seq, ev.Time.UTC().Format("2006-01-02T15:04:05.000Z"), ev.Subject, typ, data)
}

// replayDataWidth is how many characters of an event's data a person's
// line shows (--full: all of it).
const replayDataWidth = 160

// cutData returns data cut to width characters, saying how much is left
// out.
func cutData(data string, width int) string {
	n := 0
	for i := range data {
		if n == width {
			return data[:i] + fmt.Sprintf("… (%s bytes in all; --full)", groupDigits(len(data)))
		}
		n++
	}
	return data
}

// groupDigits writes n with thousands separators (2,116).
func groupDigits(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// gap reports missing sequences from..to (an unfiltered read's OnGap).
func (p *replayPrinter) gap(from, to uint64) error {
	if p.stopped {
		return nil
	}
	p.reported = append(p.reported, fmt.Sprintf("#%d..#%d", from, to))
	if p.o.asJSON {
		fmt.Fprintf(p.w, `{"gap":{"from":%d,"to":%d,"missing":%d}}`+"\n", from, to, to-from+1)
	} else {
		fmt.Fprintf(p.w, "%-8s  gap: #%d..#%d missing from the stream (%d messages)\n", "----", from, to, to-from+1)
	}
	return nil
}

// flushGaps reports the deleted ranges of a filtered read that lie in the
// range up to upTo; at the end of the read, up to the range's end (or the
// last event printed when --limit stopped it).
func (p *replayPrinter) flushGaps(upTo uint64, end bool) error {
	if end {
		switch {
		case p.stopped || (p.since && !p.seen):
			upTo = p.last
		case upTo == 0:
			upTo = math.MaxUint64
		}
	}
	for len(p.gaps) > 0 && p.gaps[0][0] <= upTo {
		g := p.gaps[0]
		if g[1] > upTo {
			// Only the part up to upTo is known to be in the range so far.
			if !end {
				return nil
			}
			g[1] = upTo
		}
		p.gaps = p.gaps[1:]
		from := max(g[0], p.start)
		if from > g[1] {
			continue
		}
		if err := p.gap(from, g[1]); err != nil {
			return err
		}
	}
	return nil
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			enc, _ := json.Marshal(s)
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
