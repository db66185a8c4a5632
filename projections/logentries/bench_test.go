package logentries

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/projections"
)

// BenchmarkLogCopyReader measures turning stored log events into binary
// COPY data, the projector's and the rebuild's CPU cost per entry.
func BenchmarkLogCopyReader(b *testing.B) {
	for _, perEvent := range []int{1, 100} {
		b.Run(fmt.Sprintf("%d-entries-per-event", perEvent), func(b *testing.B) {
			var encoded [][]byte
			for i := range perEvent {
				e, fe := logs.DecodeSingle([]byte(fmt.Sprintf(`{"level":"info","message":"request %d served in 12ms with a message of about a hundred bytes in all, like real ones","context":{"route":"/api/x","status":200,"ms":12,"user":"u-%d"},"source":"api-1"}`, i, i)), time.Now())
				if fe != nil {
					b.Fatal(fe)
				}
				enc, _ := logs.EncodeEntry(e)
				encoded = append(encoded, enc)
			}
			env := eventstore.Envelope{ID: uuid.New(), Type: logs.EntriesReceivedV1, OccurredAt: time.Now(), Data: logs.AppendPayload(nil, encoded)}
			events := make([]projections.Event, 100)
			for i := range events {
				events[i] = projections.Event{Seq: uint64(i + 1), Envelope: env}
			}
			b.ReportAllocs()
			b.ResetTimer()
			rows := 0
			for b.Loop() {
				src := &logCopyReader{entries: logEntries{events: events}}
				if _, err := io.Copy(io.Discard, src); err != nil {
					b.Fatal(err)
				}
				rows += int(src.rows)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/row")
		})
	}
}
