package logs

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// FuzzFromOTLP: whatever request body decodes, FromOTLP either refuses it
// as a whole or maps every record to a storable entry or a rejection, and
// every entry round-trips through the event payload.
func FuzzFromOTLP(f *testing.F) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "svc")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Body().SetStr("hello")
	lr.Attributes().PutInt("n", 1)
	lr.Attributes().PutEmptyMap("m").PutDouble("d", 1.5)
	seed, _ := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	f.Add(seed, false)
	js, _ := plogotlp.NewExportRequestFromLogs(ld).MarshalJSON()
	f.Add(js, true)
	f.Fuzz(func(t *testing.T, body []byte, isJSON bool) {
		req := plogotlp.NewExportRequest()
		var err error
		if isJSON {
			err = req.UnmarshalJSON(body)
		} else {
			err = req.UnmarshalProto(body)
		}
		if err != nil {
			return
		}
		n := req.Logs().LogRecordCount()
		if n > 1000 {
			return
		}
		b, err := FromOTLP(req.Logs(), time.Now())
		if err != nil {
			return
		}
		if len(b.Entries)+b.Rejected != n {
			t.Fatalf("%d entries + %d rejected for %d records", len(b.Entries), b.Rejected, n)
		}
		var encoded [][]byte
		for _, e := range b.Entries {
			if !utf8.ValidString(e.Message) || strings.IndexByte(e.Message, 0) >= 0 || e.Message == "" || len(e.Message) > MaxMessageBytes {
				t.Fatalf("unstorable message %q", e.Message)
			}
			if !ValidLevel(e.Level) || !json.Valid(e.Context) {
				t.Fatalf("bad entry %+v", e)
			}
			if _, fe := normalizeContext(e.Context); fe != nil {
				t.Fatalf("context PostgreSQL would refuse: %v: %s", fe, e.Context)
			}
			enc, err := EncodeEntry(e)
			if err != nil {
				t.Fatal(err)
			}
			encoded = append(encoded, enc)
		}
		back, err := DecodeEntriesReceived(AppendPayload(nil, encoded))
		if err != nil || len(back) != len(b.Entries) {
			t.Fatalf("payload does not decode back: %v", err)
		}
	})
}
