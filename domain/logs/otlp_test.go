package logs

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestSeverityLevel(t *testing.T) {
	tests := []struct {
		n    plog.SeverityNumber
		text string
		want string
	}{
		{plog.SeverityNumberTrace, "", "debug"},
		{plog.SeverityNumberDebug4, "", "debug"},
		{plog.SeverityNumberInfo, "", "info"},
		{plog.SeverityNumberInfo2, "", "notice"},
		{plog.SeverityNumberWarn, "", "warning"},
		{plog.SeverityNumberError, "", "error"},
		{plog.SeverityNumberError2, "", "critical"},
		{plog.SeverityNumberFatal, "", "alert"},
		{plog.SeverityNumberFatal4, "", "emergency"},
		{plog.SeverityNumberError, "info", "error"}, // the number wins
		{0, "WARN", "warning"},
		{0, "Information", "info"},
		{0, "fatal", "emergency"},
		{0, "CRIT", "critical"},
		{0, "", "info"},
		{0, "whatever", "info"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, severityLevel(tt.n, tt.text), "%v %q", tt.n, tt.text)
	}
}

// oneRecord returns logs holding one record and that record.
func oneRecord() (plog.Logs, plog.LogRecord) {
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	return ld, lr
}

func TestFromOTLPValues(t *testing.T) {
	ld, lr := oneRecord()
	lr.Body().SetEmptyMap().PutStr("k", "v")
	a := lr.Attributes()
	a.PutDouble("nan", math.NaN())
	a.PutDouble("inf", math.Inf(-1))
	a.PutEmptyBytes("raw").FromRaw([]byte{0, 1, 2})
	a.PutStr("quote", "a\"b\\c\n\x01")
	a.PutEmpty("nothing")
	s := a.PutEmptySlice("list")
	s.AppendEmpty().SetInt(-7)
	s.AppendEmpty().SetBool(false)
	now := time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)
	b, err := FromOTLP(ld, now)
	require.NoError(t, err)
	require.Len(t, b.Entries, 1)
	require.False(t, b.Timed, "no record time")
	e := b.Entries[0]
	require.Equal(t, `{"k":"v"}`, e.Message, "a map body is its JSON")
	require.Equal(t, "info", e.Level)
	require.Equal(t, now, e.ReceivedAt)
	require.True(t, e.Time.IsZero())
	require.JSONEq(t, `{"resource":{},"attributes":{"nan":"NaN","inf":"-Infinity","raw":"AAEC","quote":"a\"b\\c\n\u0001",
		"nothing":null,"list":[-7,false]}}`, string(e.Context))
	// Whatever FromOTLP accepts, the read model stores as it is.
	_, fe := Input{Level: e.Level, Message: &e.Message, Context: e.Context}.Validate(now)
	require.Nil(t, fe)
}

func TestFromOTLPRefuses(t *testing.T) {
	deep := func(lr plog.LogRecord) {
		m := lr.Attributes()
		for range MaxContextDepth + 1 {
			m = m.PutEmptyMap("d")
		}
	}
	tests := []struct {
		name   string
		set    func(plog.LogRecord)
		reason string
	}{
		{"NUL in body", func(lr plog.LogRecord) { lr.Body().SetStr("a\x00b") }, "NUL"},
		{"NUL in attribute", func(lr plog.LogRecord) { lr.Attributes().PutStr("k", "a\x00") }, "NUL"},
		{"message too long", func(lr plog.LogRecord) { lr.Body().SetStr(strings.Repeat("x", MaxMessageBytes+1)) }, "at most"},
		{"too deep", deep, "deeper"},
		{"context too large", func(lr plog.LogRecord) { lr.Attributes().PutStr("big", strings.Repeat("x", MaxContextBytes)) }, "over"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ld, lr := oneRecord()
			lr.Body().SetStr("ok")
			tt.set(lr)
			good := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty()
			good.Body().SetStr("fine")
			good.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
			b, err := FromOTLP(ld, time.Now())
			require.NoError(t, err)
			require.Equal(t, 1, b.Rejected)
			require.Contains(t, b.Reason, tt.reason)
			require.Contains(t, b.Reason, "log_records[0]")
			require.Len(t, b.Entries, 1)
			require.Equal(t, "fine", b.Entries[0].Message)
		})
	}
	ld, lr := oneRecord()
	lr.Body().SetStr("ok")
	lr.Attributes().PutStr("k\xff", "v")
	_, err := FromOTLP(ld, time.Now())
	require.ErrorIs(t, err, ErrInvalidUTF8, "a key that is not UTF-8 is malformed OTLP")
}

// TestOTLPEntriesRoundTrip: the OpenTelemetry fields survive the event
// payload, on the fast path and through encoding/json alike.
func TestOTLPEntriesRoundTrip(t *testing.T) {
	ld, lr := oneRecord()
	lr.Body().SetStr("m")
	lr.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	lr.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	lr.SetTimestamp(pcommon.Timestamp(1544712660300000001))
	lr.SetObservedTimestamp(pcommon.Timestamp(1544712660400000000))
	b, err := FromOTLP(ld, time.Now())
	require.NoError(t, err)
	require.True(t, b.Timed)
	e := b.Entries[0]
	require.Equal(t, "0102030405060708090a0b0c0d0e0f10", e.TraceID)
	require.Equal(t, "0102030405060708", e.SpanID)
	enc, err := EncodeEntry(e)
	require.NoError(t, err)
	payload := AppendPayload(nil, [][]byte{enc})
	fast, ok := decodeFast(payload)
	require.True(t, ok, "the fast path reads %s", enc)
	slow, err := DecodeEntriesReceived(append([]byte(" "), payload...))
	require.NoError(t, err)
	require.Equal(t, []Entry{e}, fast)
	require.Equal(t, fast, slow)
	require.Equal(t, 1, fast[0].Time.Nanosecond()%1000, "nanoseconds kept in the log")
}
