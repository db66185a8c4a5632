package logs

import (
	"bytes"
	"fmt"
	"testing"
)

// benchEntry is about 250 bytes of JSON with a small context, like the
// ingest benchmark's entries.
func benchEntry(i int) string {
	return fmt.Sprintf(`{"level":"info","message":"GET /api/orders/%d completed with status 200 in %dms for tenant acme-%d (bench entry %08d)",`+
		`"context":{"request_id":"%016x","user_id":%d,"path":"/api/orders","attempt":%d},"source":"svc-%d"}`,
		i*7919%100000, i%97+1, i%13, i, uint64(i)*0x9E3779B97F4A7C15, i%5000, i%3+1, i%8)
}

func BenchmarkDecodeSingle(b *testing.B) {
	body := []byte(benchEntry(42))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, fe := DecodeSingle(body, now); fe != nil {
			b.Fatal(fe)
		}
	}
}

func BenchmarkDecodeArray(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range 1000 {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(benchEntry(i))
	}
	buf.WriteByte(']')
	body := buf.Bytes()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, fe := DecodeArray(body, now); fe != nil {
			b.Fatal(fe)
		}
	}
}
