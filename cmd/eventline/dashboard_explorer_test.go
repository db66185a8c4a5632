package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventline/eventline/internal/browsertest"
)

// TestDashboardLogExplorer: an entry sent by the OpenTelemetry SDK's OTLP
// exporter is found by its trace id through the API and shows on /logs,
// where its line expands to the whole entry, a field of it becomes a
// filter with a click, the volume histogram counts it, and the live tail
// pauses and resumes.
func TestDashboardLogExplorer(t *testing.T) {
	s := startServe(t, nil)
	postLog(t, s.URL, `{"level":"info","message":"unrelated entry","source":"node-1","context":{"user_id":7}}`)

	ctx := context.Background()
	exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpointURL(s.URL+"/v1/logs"), otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false}))
	require.NoError(t, err)
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)),
		sdklog.WithResource(resource.NewSchemaless(attribute.String("service.name", "checkout"))))
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:  trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}, TraceFlags: trace.FlagsSampled})
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetSeverity(otellog.SeverityWarn)
	rec.SetBody(attribute.StringValue("card declined for order 99"))
	rec.AddAttributes(attribute.Int("user_id", 42))
	provider.Logger("shop").Emit(trace.ContextWithSpanContext(ctx, sc), rec)
	require.NoError(t, provider.Shutdown(ctx))
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"

	deadline := time.Now().Add(15 * time.Second)
	for {
		var page struct {
			Items []struct {
				Message string `json:"message"`
				Source  string `json:"source"`
			} `json:"items"`
		}
		resp := call(t, "GET", s.URL+"/api/logs?trace_id="+traceID, "", nil, nil, &page)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		if len(page.Items) == 1 {
			require.Equal(t, "card declined for order 99", page.Items[0].Message)
			require.Equal(t, "checkout", page.Items[0].Source)
			break
		}
		require.True(t, time.Now().Before(deadline), "the SDK's entry is never found by its trace id")
		time.Sleep(50 * time.Millisecond)
	}

	b := browsertest.New(t)
	b.Run(15*time.Second, chromedp.Navigate(s.URL+"/logs?since=1h"))
	b.WaitText("#logs-entries", "card declined for order 99", 10*time.Second)
	b.WaitText("#logs-hist-legend", "warning 1", 10*time.Second)
	require.GreaterOrEqual(t, b.Nodes("#logs-histogram svg rect.hist-bar"), 2, "one bar part per level")

	// The newest line expands to the whole entry.
	b.Run(10*time.Second, chromedp.Click("#logs-entries details.logs-entry summary", chromedp.ByQuery))
	b.WaitText("#logs-entries details[open]", traceID, 5*time.Second)
	open := b.Text("#logs-entries details[open]")
	for _, want := range []string{"persisted", "resource.service.name", "checkout", "attr.user_id", "42", "seq", `"severity_number": 13`} {
		require.Contains(t, open, want)
	}
	b.Screenshot("logs-explorer")

	// A field becomes a filter with a click.
	b.Run(10*time.Second, chromedp.Click(`#logs-entries details[open] a.logs-field[href*="attr.user_id=42"]`, chromedp.ByQuery))
	b.WaitText("#logs-active", "attr.user_id=42", 10*time.Second)
	b.WaitText("#logs-entries", "card declined for order 99", 10*time.Second)
	require.NotContains(t, b.Text("#logs-entries"), "unrelated entry")
	var loc string
	b.Run(5*time.Second, chromedp.Location(&loc))
	require.Contains(t, loc, "attr.user_id=42")
	require.Contains(t, loc, "since=1h", "the other filters stay")

	// Pausing the live tail stops its polling; resuming shows what came meanwhile.
	b.Run(10*time.Second, chromedp.Click("#tail-toggle", chromedp.ByQuery))
	b.WaitText("#tail-state", "Paused", 10*time.Second)
	var trigger string
	var ok bool
	b.Run(5*time.Second, chromedp.AttributeValue("#logs-entries", "hx-trigger", &trigger, &ok, chromedp.ByQuery))
	require.False(t, strings.Contains(trigger, "every"), "paused: %q", trigger)
	postLog(t, s.URL, `{"level":"error","message":"second decline","context":{"user_id":42}}`)
	b.Run(10*time.Second, chromedp.Click("#tail-toggle", chromedp.ByQuery))
	b.WaitText("#tail-state", "Live", 10*time.Second)
	b.WaitText("#logs-entries", "second decline", 10*time.Second)
	b.NoProblems()
}
