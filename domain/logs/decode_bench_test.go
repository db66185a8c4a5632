package logs

import (
	"bytes"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// benchEntry is about 250 bytes of JSON with a small context, like the
// ingest benchmark's entries.
func benchEntry(i int) string {
	return fmt.Sprintf(`{"level":"info","message":"GET /api/orders/%d completed with status 200 in %dms for tenant acme-%d (bench entry %08d)",`+
		`"context":{"request_id":"%016x","user_id":%d,"path":"/api/orders","attempt":%d},"source":"svc-%d"}`,
		i*7919%100000, i%97+1, i%13, i, uint64(i)*0x9E3779B97F4A7C15, i%5000, i%3+1, i%8)
}

// The decoders compared: jsontext (jsonReader, in use) and the hand-written
// tokenizer it replaced (decode_baseline_test.go), on the same bodies.
var benchDecoders = []struct {
	name   string
	single func([]byte, time.Time) (Entry, *FieldError)
	array  func([]byte, time.Time) ([]Entry, *FieldError)
}{
	{"jsontext", DecodeSingle, DecodeArray},
	{"baseline", baselineDecodeSingle, baselineDecodeArray},
}

func BenchmarkDecodeSingle(b *testing.B) {
	body := []byte(benchEntry(42))
	for _, d := range benchDecoders {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			defer reportCPU(b, cpuTime())
			for b.Loop() {
				if _, fe := d.single(body, now); fe != nil {
					b.Fatal(fe)
				}
			}
		})
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
	for _, d := range benchDecoders {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			defer reportCPU(b, cpuTime())
			for b.Loop() {
				if _, fe := d.array(body, now); fe != nil {
					b.Fatal(fe)
				}
			}
		})
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
