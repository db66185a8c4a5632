// Package jsonlibs compares, on eventline's own envelopes and payloads, the
// JSON libraries the module could use; `make bench` runs it. It is a module
// of its own so that the candidates that lost stay out of eventline's
// go.mod. Issue 28 chose go-json-experiment (domain/logs needs its jsontext
// anyway): eventstore.UnmarshalEnvelope walks an envelope with jsontext as
// fast as segmentio decodes it, several times faster than fastjson or
// encoding/json; payloads go through its v1 API (encoding/json's rules).
package jsonlibs

import (
	stdjson "encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/google/uuid"
	segjson "github.com/segmentio/encoding/json"
	"github.com/valyala/fastjson"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
)

// event is a stored envelope and a new value of its payload's type.
type event struct {
	name    string
	body    []byte
	payload func() any
}

func events(tb testing.TB) []event {
	read := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		return []byte(strings.TrimSpace(string(b)))
	}
	return []event{
		{"saga.started", read("../../domain/saga/testdata/saga.started.v1.json"), func() any { return new(saga.Started) }},
		{"saga.decided", read("../../domain/saga/testdata/saga.decided.v1.json"), func() any { return new(saga.Decided) }},
		{"order.created", read("../../domain/orders/testdata/order.created.v1.json"), func() any { return new(orders.OrderCreated) }},
		{"log.entries_received.100", logEnvelope(tb, 100), func() any { return new(logs.EntriesReceived) }},
	}
}

// logEnvelope is an event of n entries of about 250 bytes, as ingest
// writes them.
func logEnvelope(tb testing.TB, n int) []byte {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var encoded [][]byte
	for i := range n {
		body := fmt.Sprintf(`{"level":"info","message":"GET /api/orders/%d completed with status 200 in %dms for tenant acme-%d",`+
			`"context":{"request_id":"%016x","user_id":%d,"path":"/api/orders","attempt":%d},"source":"svc-%d"}`,
			i*7919%100000, i%97+1, i%13, uint64(i)*0x9E3779B97F4A7C15, i%5000, i%3+1, i%8)
		e, fe := logs.DecodeSingle([]byte(body), now)
		if fe != nil {
			tb.Fatal(fe)
		}
		b, err := logs.EncodeEntry(e)
		if err != nil {
			tb.Fatal(err)
		}
		encoded = append(encoded, b)
	}
	env := eventstore.Envelope{ID: uuid.Must(uuid.NewV7()), Type: logs.EntriesReceivedV1, OccurredAt: now, Data: logs.AppendPayload(nil, encoded)}
	b, err := env.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// envelopeDecoders are the candidates for reading an envelope.
var envelopeDecoders = []struct {
	name   string
	decode func([]byte) (eventstore.Envelope, error)
}{
	{"jsontext", eventstore.UnmarshalEnvelope}, // in use
	{"encoding-json", func(b []byte) (e eventstore.Envelope, err error) { return e, stdjson.Unmarshal(b, &e) }},
	{"segmentio", func(b []byte) (e eventstore.Envelope, err error) { return e, segjson.Unmarshal(b, &e) }},
	{"json-v2", func(b []byte) (e eventstore.Envelope, err error) { return e, jsonv2.Unmarshal(b, &e) }},
	{"fastjson", fastjsonEnvelope},
}

// fastjsonEnvelope reads an envelope as platform/reactor did before issue 28.
func fastjsonEnvelope(b []byte) (eventstore.Envelope, error) {
	var e eventstore.Envelope
	if err := fastjson.ValidateBytes(b); err != nil {
		return e, err
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(b)
	if err != nil {
		return e, err
	}
	if e.ID, err = uuid.ParseBytes(v.GetStringBytes("id")); err != nil {
		return e, err
	}
	e.Type = string(v.GetStringBytes("type"))
	if e.OccurredAt, err = time.Parse(time.RFC3339Nano, string(v.GetStringBytes("occurred_at"))); err != nil {
		return e, err
	}
	e.CorrelationID = string(v.GetStringBytes("correlation_id"))
	e.CausationID = string(v.GetStringBytes("causation_id"))
	e.Data = v.Get("data").MarshalTo(nil)
	return e, nil
}

// payloadLibs are the candidates for a payload's encoding/json-compatible
// Marshal and Unmarshal (json-v2 with its own, stricter defaults).
var payloadLibs = []struct {
	name      string
	marshal   func(any) ([]byte, error)
	unmarshal func([]byte, any) error
}{
	{"encoding-json", stdjson.Marshal, stdjson.Unmarshal},
	{"segmentio", segjson.Marshal, segjson.Unmarshal},
	{"json-v1", jsonv1.Marshal, jsonv1.Unmarshal},
	{"json-v2", func(v any) ([]byte, error) { return jsonv2.Marshal(v) }, func(b []byte, v any) error { return jsonv2.Unmarshal(b, v) }},
}

// TestCandidatesAgree: every candidate reads the same envelopes and
// payloads, so the benchmark compares like with like.
func TestCandidatesAgree(t *testing.T) {
	for _, ev := range events(t) {
		want, err := eventstore.UnmarshalEnvelope(ev.body)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range envelopeDecoders {
			got, err := d.decode(ev.body)
			if err != nil || got.ID != want.ID || got.Type != want.Type || !got.OccurredAt.Equal(want.OccurredAt) || string(got.Data) != string(want.Data) {
				t.Fatalf("%s reads %s differently (%v)", d.name, ev.name, err)
			}
		}
		wantPayload := ev.payload()
		if err := stdjson.Unmarshal(want.Data, wantPayload); err != nil {
			t.Fatal(err)
		}
		for _, l := range payloadLibs {
			got := ev.payload()
			if err := l.unmarshal(want.Data, got); err != nil || !reflect.DeepEqual(got, wantPayload) {
				t.Fatalf("%s decodes %s differently (%v)", l.name, ev.name, err)
			}
		}
	}
}

func BenchmarkEnvelope(b *testing.B) {
	for _, ev := range events(b) {
		for _, d := range envelopeDecoders {
			b.Run(ev.name+"/"+d.name, func(b *testing.B) {
				b.SetBytes(int64(len(ev.body)))
				b.ReportAllocs()
				defer reportCPU(b, cpuTime())
				for b.Loop() {
					if _, err := d.decode(ev.body); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkPayloadDecode(b *testing.B) {
	for _, ev := range events(b) {
		env, err := eventstore.UnmarshalEnvelope(ev.body)
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range payloadLibs {
			b.Run(ev.name+"/"+l.name, func(b *testing.B) {
				b.SetBytes(int64(len(env.Data)))
				b.ReportAllocs()
				defer reportCPU(b, cpuTime())
				for b.Loop() {
					if err := l.unmarshal(env.Data, ev.payload()); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkPayloadEncode(b *testing.B) {
	for _, ev := range events(b) {
		env, err := eventstore.UnmarshalEnvelope(ev.body)
		if err != nil {
			b.Fatal(err)
		}
		v := ev.payload()
		if err := stdjson.Unmarshal(env.Data, v); err != nil {
			b.Fatal(err)
		}
		for _, l := range payloadLibs {
			b.Run(ev.name+"/"+l.name, func(b *testing.B) {
				b.SetBytes(int64(len(env.Data)))
				b.ReportAllocs()
				defer reportCPU(b, cpuTime())
				for b.Loop() {
					if _, err := l.marshal(v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// reportCPU adds the process's CPU time per operation since start (user and
// system, every thread, the collector's too): on a shared machine it moves
// far less than ns/op, which counts the time spent waiting for a core.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
