package logsapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/platform/httpapi"
)

// specExampleJSON is the OTLP/JSON logs request of the OpenTelemetry
// protocol's examples (opentelemetry-proto, examples/logs.json): hex trace
// and span ids, 64-bit integers as numbers, every kind of attribute value.
const specExampleJSON = `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}}]},
"scopeLogs":[{"scope":{"name":"my.library","version":"1.0.0","attributes":[{"key":"my.scope.attribute","value":{"stringValue":"some scope attribute"}}]},
"logRecords":[{"timeUnixNano":1544712660300000000,"observedTimeUnixNano":1544712660300000000,"severityText":"Information",
"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","body":{"stringValue":"Example log record"},
"attributes":[{"key":"string.attribute","value":{"stringValue":"some string"}},{"key":"boolean.attribute","value":{"boolValue":true}},
{"key":"int.attribute","value":{"intValue":10}},{"key":"double.attribute","value":{"doubleValue":637.704}},
{"key":"array.attribute","value":{"arrayValue":{"values":[{"stringValue":"many"},{"stringValue":"values"}]}}},
{"key":"map.attribute","value":{"kvlistValue":{"values":[{"key":"some.map.key","value":{"stringValue":"some value"}}]}}}]}]}]}]}`

const specTraceID = "5b8efff798038103d269b633813fc60c"

// specExampleProto is the same request in OTLP's protobuf encoding.
func specExampleProto(t *testing.T) []byte {
	t.Helper()
	req := plogotlp.NewExportRequest()
	require.NoError(t, req.UnmarshalJSON([]byte(specExampleJSON)))
	b, err := req.MarshalProto()
	require.NoError(t, err)
	return b
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// postOTLP sends an OTLP body with its content type and encoding.
func postOTLP(t *testing.T, url, contentType, encoding string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/logs", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, raw
}

// exportResponse decodes a 200 answer in the request's encoding.
func exportResponse(t *testing.T, contentType string, raw []byte) plogotlp.ExportResponse {
	t.Helper()
	resp := plogotlp.NewExportResponse()
	if contentType == otlpJSON {
		require.NoError(t, resp.UnmarshalJSON(raw), "body %s", raw)
	} else {
		require.NoError(t, resp.UnmarshalProto(raw))
	}
	return resp
}

// listByTrace reads GET /api/logs?trace_id= once the read model holds seq.
func listByTrace(t *testing.T, url, traceID string, seq uint64) listResponse {
	t.Helper()
	var out listResponse
	resp, _ := do(t, http.MethodGet, url+"/api/logs?trace_id="+traceID+"&min_seq="+strconv.FormatUint(seq, 10), "", nil, &out)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Empty(t, resp.Header.Get("X-Eventline-Stale"), "the read model caught up")
	return out
}

// logsInStream is how many events the LOGS stream holds.
func logsInStream(t *testing.T, p *apiProc) uint64 {
	t.Helper()
	s, err := p.writes.JetStream().Stream(context.Background(), logs.Stream)
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	return info.State.Msgs
}

// TestOTLPSpecExampleBodies: the specification's example request, in JSON,
// in protobuf and gzipped, is stored with every field mapped; an exporter's
// retry of the same body stores nothing new.
func TestOTLPSpecExampleBodies(t *testing.T) {
	env := newLogsEnv(t)
	env.startProjector(t)
	p := env.startAPI(t, IngestConfig{}, LookupConfig{})
	proto := specExampleProto(t)
	sends := []struct {
		name, contentType, encoding string
		body                        []byte
	}{
		{"json", otlpJSON, "", []byte(specExampleJSON)},
		{"json retried", otlpJSON, "", []byte(specExampleJSON)},
		{"protobuf gzip", otlpProtobuf, "gzip", gzipped(t, proto)},
		{"protobuf retried without gzip", otlpProtobuf, "", proto},
	}
	var last uint64
	for _, s := range sends {
		resp, raw := postOTLP(t, p.URL, s.contentType, s.encoding, s.body)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", s.name, raw)
		require.Equal(t, s.contentType, resp.Header.Get("Content-Type"), s.name)
		er := exportResponse(t, s.contentType, raw)
		require.Zero(t, er.PartialSuccess().RejectedLogRecords(), s.name)
		seq, err := strconv.ParseUint(resp.Header.Get("X-Eventline-Seq"), 10, 64)
		require.NoError(t, err, s.name)
		last = max(last, seq)
	}
	require.EqualValues(t, 2, logsInStream(t, p), "a retried body is stored once (JSON and protobuf are two bodies)")

	got := listByTrace(t, p.URL, specTraceID, last)
	require.Len(t, got.Items, 2)
	e := got.Items[0]
	require.Equal(t, "info", e.Level, "severity text Information")
	require.Equal(t, "Example log record", e.Message)
	require.Equal(t, "my.service", e.Source)
	require.Equal(t, specTraceID, e.TraceID)
	require.Equal(t, "eee19b7ec3c1b174", e.SpanID)
	require.Equal(t, time.Date(2018, 12, 13, 14, 51, 0, 300_000_000, time.UTC), e.Time)
	require.Equal(t, e.Time, e.ObservedTime)
	require.JSONEq(t, `{
		"resource": {"service.name": "my.service"},
		"attributes": {"string.attribute": "some string", "boolean.attribute": true, "int.attribute": 10,
			"double.attribute": 637.704, "array.attribute": ["many", "values"], "map.attribute": {"some.map.key": "some value"}},
		"scope": {"name": "my.library", "version": "1.0.0", "attributes": {"my.scope.attribute": "some scope attribute"}},
		"severity_text": "Information"}`, string(e.Context))

	var one entryView
	resp, _ := do(t, http.MethodGet, p.URL+"/api/logs/"+e.ID.String(), "", nil, &one)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, e.TraceID, one.TraceID)
	require.Equal(t, e.Time, one.Time)
}

// recordingExporter passes records to an exporter and keeps what its
// exports returned.
type recordingExporter struct {
	sdklog.Exporter
	errs chan error
}

func (r recordingExporter) Export(ctx context.Context, records []sdklog.Record) error {
	err := r.Exporter.Export(ctx, records)
	r.errs <- err
	return err
}

// TestOTLPFromTheSDKExporter: the OpenTelemetry Go SDK's own OTLP/HTTP log
// exporter (gzip, bearer token) sends through our endpoint; the entry is
// found by its trace id, with its severity, attributes and resource mapped.
func TestOTLPFromTheSDKExporter(t *testing.T) {
	env := newLogsEnv(t)
	env.startProjector(t)
	p := env.startAPI(t, IngestConfig{}, LookupConfig{})
	// The same handler behind a server that requires a token.
	srv := httpapi.NewServer(httpapi.ServerConfig{Token: "s3cret", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	p.h.Mount(srv)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)

	ctx := context.Background()
	send := func(token string) error {
		exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpointURL(hs.URL+"/v1/logs"),
			otlploghttp.WithCompression(otlploghttp.GzipCompression),
			otlploghttp.WithHeaders(map[string]string{"Authorization": "Bearer " + token}),
			otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false}))
		require.NoError(t, err)
		rec := recordingExporter{Exporter: exp, errs: make(chan error, 1)}
		res := resource.NewSchemaless(attribute.String("service.name", "checkout"), attribute.String("deployment.environment", "test"))
		provider := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewSimpleProcessor(rec)))
		defer func() { require.NoError(t, provider.Shutdown(ctx)) }()
		logger := provider.Logger("eventline-test", otellog.WithInstrumentationVersion("1.2.3"))
		sc := trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c},
			SpanID:  trace.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31}, TraceFlags: trace.FlagsSampled})
		var r otellog.Record
		r.SetTimestamp(time.Date(2026, 12, 7, 3, 4, 5, 6000, time.UTC))
		r.SetSeverity(otellog.SeverityWarn)
		r.SetSeverityText("WARN")
		r.SetBody(attribute.StringValue("payment retried"))
		r.AddAttributes(attribute.Int("user_id", 42), attribute.String("order_id", "o-17"))
		logger.Emit(trace.ContextWithSpanContext(ctx, sc), r)
		select {
		case err := <-rec.errs:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("the exporter did not export")
			return nil
		}
	}
	require.Error(t, send("wrong"), "the token applies to /v1/logs")
	require.Zero(t, logsInStream(t, p))
	require.NoError(t, send("s3cret"))

	const traceID = "0af7651916cd43dd8448eb211c80319c"
	var got listResponse
	require.Eventually(t, func() bool {
		got = listByTrace(t, p.URL, traceID, 0)
		return len(got.Items) == 1
	}, 10*time.Second, 10*time.Millisecond, "the SDK's entry is found by its trace id")
	e := got.Items[0]
	require.Equal(t, "warning", e.Level)
	require.Equal(t, "payment retried", e.Message)
	require.Equal(t, "checkout", e.Source)
	require.Equal(t, "b7ad6b7169203331", e.SpanID)
	require.Equal(t, time.Date(2026, 12, 7, 3, 4, 5, 6000, time.UTC), e.Time)
	require.False(t, e.ObservedTime.IsZero(), "the SDK sets the observed time")
	var c struct {
		Resource   map[string]any `json:"resource"`
		Attributes map[string]any `json:"attributes"`
		Scope      map[string]any `json:"scope"`
	}
	require.NoError(t, json.Unmarshal(e.Context, &c))
	require.Equal(t, "checkout", c.Resource["service.name"])
	require.Equal(t, "test", c.Resource["deployment.environment"])
	require.EqualValues(t, 42, c.Attributes["user_id"])
	require.Equal(t, "o-17", c.Attributes["order_id"])
	require.Equal(t, map[string]any{"name": "eventline-test", "version": "1.2.3"}, c.Scope)
}

// TestOTLPRefusesBadBodies: malformed, mistyped and oversized requests get
// a 4xx with a google.rpc.Status in OTLP's shape; nothing is stored and the
// endpoint keeps working.
func TestOTLPRefusesBadBodies(t *testing.T) {
	env := newLogsEnv(t)
	p := env.startAPI(t, IngestConfig{}, LookupConfig{})
	good := specExampleProto(t)

	badUTF8 := plog.NewLogs()
	lr := badUTF8.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Body().SetStr("fine")
	lr.Attributes().PutStr("user", "caf\xe9")
	badUTF8Body, err := plogotlp.NewExportRequestFromLogs(badUTF8).MarshalProto()
	require.NoError(t, err)

	// 64 MiB of zeros compress to about 64 KiB.
	bomb := gzipped(t, make([]byte, 64<<20))
	tests := []struct {
		name, contentType, encoding string
		body                        []byte
		status                      int
		message                     string
	}{
		{"truncated protobuf", otlpProtobuf, "", good[:len(good)-7], http.StatusBadRequest, "not an OTLP ExportLogsServiceRequest"},
		{"protobuf sent as JSON", otlpJSON, "", good, http.StatusBadRequest, "not an OTLP ExportLogsServiceRequest"},
		{"broken JSON", otlpJSON, "", []byte(`{"resourceLogs":[{`), http.StatusBadRequest, "not an OTLP ExportLogsServiceRequest"},
		{"wrong content type", "text/plain", "", []byte(specExampleJSON), http.StatusUnsupportedMediaType, "is not accepted"},
		{"unknown encoding", otlpJSON, "br", []byte(specExampleJSON), http.StatusUnsupportedMediaType, "Content-Encoding"},
		{"not gzip", otlpJSON, "gzip", []byte(specExampleJSON), http.StatusBadRequest, "not gzip"},
		{"50 MB", otlpProtobuf, "", make([]byte, 50<<20), http.StatusRequestEntityTooLarge, "exceeds"},
		{"gzip bomb", otlpProtobuf, "gzip", bomb, http.StatusRequestEntityTooLarge, "once inflated"},
		{"invalid UTF-8 in a string attribute", otlpProtobuf, "", badUTF8Body, http.StatusBadRequest, "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, raw := postOTLP(t, p.URL, tt.contentType, tt.encoding, tt.body)
			require.Equal(t, tt.status, resp.StatusCode, "body %q", raw)
			st := &spb.Status{}
			switch ct := resp.Header.Get("Content-Type"); ct {
			case otlpJSON:
				require.NoError(t, protojson.Unmarshal(raw, st), "body %s", raw)
			case otlpProtobuf:
				require.NoError(t, proto.Unmarshal(raw, st))
			default:
				t.Fatalf("content type %q", ct)
			}
			require.Contains(t, st.GetMessage(), tt.message)
			require.NotZero(t, st.GetCode())
		})
	}
	require.Zero(t, logsInStream(t, p), "nothing stored")
	resp, raw := postOTLP(t, p.URL, otlpProtobuf, "", good)
	require.Equal(t, http.StatusOK, resp.StatusCode, "still healthy: %s", raw)
	require.EqualValues(t, 1, logsInStream(t, p))
}

// TestOTLPPartialSuccess: records PostgreSQL could not store are refused in
// the answer (rejected count and the first reason); the others are stored.
func TestOTLPPartialSuccess(t *testing.T) {
	env := newLogsEnv(t)
	env.startProjector(t)
	p := env.startAPI(t, IngestConfig{}, LookupConfig{})
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "billing")
	records := rl.ScopeLogs().AppendEmpty().LogRecords()
	traceID := pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	for i, body := range []string{"kept", "nul \x00 inside", strings.Repeat("x", logs.MaxMessageBytes+1), "kept too"} {
		lr := records.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		lr.SetSeverityNumber(plog.SeverityNumberError)
		lr.Body().SetStr(body)
		lr.SetTraceID(traceID)
		lr.Attributes().PutInt("i", int64(i))
	}
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	resp, raw := postOTLP(t, p.URL, otlpProtobuf, "", body)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	er := exportResponse(t, otlpProtobuf, raw)
	require.EqualValues(t, 2, er.PartialSuccess().RejectedLogRecords())
	require.Contains(t, er.PartialSuccess().ErrorMessage(), "log_records[1]")
	require.Contains(t, er.PartialSuccess().ErrorMessage(), "1 more")
	seq, err := strconv.ParseUint(resp.Header.Get("X-Eventline-Seq"), 10, 64)
	require.NoError(t, err)
	got := listByTrace(t, p.URL, fmt.Sprintf("%x", traceID[:]), seq)
	require.Len(t, got.Items, 2)
	require.Equal(t, "kept too", got.Items[0].Message)
	require.Equal(t, "error", got.Items[0].Level)
	require.Equal(t, "billing", got.Items[0].Source)
}

// TestOTLPServerRefusalsInOTLPShape: what the server refuses before the
// endpoint runs (no token, a host name not allowed) reaches an exporter as
// a google.rpc.Status in the request's encoding, not the contract's JSON
// error, which an OTLP client cannot read; /api/ keeps the contract's.
func TestOTLPServerRefusalsInOTLPShape(t *testing.T) {
	env := newLogsEnv(t)
	p := env.startAPI(t, IngestConfig{}, LookupConfig{})
	srv := httpapi.NewServer(httpapi.ServerConfig{Token: "s3cret", AllowedHosts: httpapi.NewHostAllowList(httpapi.LoopbackHosts),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	p.h.Mount(srv)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	body := specExampleProto(t)
	send := func(host, contentType, path string) (*http.Response, []byte) {
		req, err := http.NewRequest(http.MethodPost, hs.URL+path, bytes.NewReader(body))
		require.NoError(t, err)
		req.Host = host
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, raw
	}
	for _, tt := range []struct {
		name, host, contentType string
		status                  int
		code                    int32
	}{
		{"no token, protobuf", "127.0.0.1", otlpProtobuf, http.StatusUnauthorized, 16},
		{"no token, JSON", "localhost", otlpJSON, http.StatusUnauthorized, 16},
		{"rebinding host", "rebind.evil.example", otlpProtobuf, http.StatusMisdirectedRequest, 7},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, raw := send(tt.host, tt.contentType, "/v1/logs")
			require.Equal(t, tt.status, resp.StatusCode)
			require.Equal(t, tt.contentType, resp.Header.Get("Content-Type"))
			st := &spb.Status{}
			if tt.contentType == otlpJSON {
				require.NoError(t, protojson.Unmarshal(raw, st), "body %s", raw)
			} else {
				require.NoError(t, proto.Unmarshal(raw, st), "body %q", raw)
			}
			require.Equal(t, tt.code, st.GetCode())
			require.NotEmpty(t, st.GetMessage())
		})
	}
	resp, raw := send("127.0.0.1", "application/json", "/api/logs")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, string(raw), `"code":"unauthorized"`, "the API keeps the contract's error shape")
	require.Zero(t, logsInStream(t, p))
}
