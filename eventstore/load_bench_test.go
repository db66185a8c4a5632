package eventstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
)

// fillSubject appends n events of about 200 bytes to subject, with other
// subjects' events between them (as a product's history sits among other
// products' in a stream).
func fillSubject(b *testing.B, st *eventstore.Store, subject string, n int) {
	b.Helper()
	ctx := context.Background()
	js := st.JetStream()
	pad := make([]byte, 160)
	for i := range n {
		env, err := eventstore.NewEnvelope("product.reserved.v1", map[string]any{"key": fmt.Sprint("saga-", i, ":reserve"), "pad": pad})
		require.NoError(b, err)
		data, err := env.Marshal()
		require.NoError(b, err)
		_, err = js.PublishAsync(subject, data)
		require.NoError(b, err)
		if i%4 == 0 {
			_, err = js.PublishAsync("test.other", data)
			require.NoError(b, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
	}
}

// BenchmarkLoadLongHistory loads one subject's whole history, as the
// command loop does for an aggregate it has not cached (a hot product
// after a restart), beside the raw baseline: an ordered consumer reading
// the same messages with nats.go alone.
func BenchmarkLoadLongHistory(b *testing.B) {
	for _, n := range []int{12, 20_000} {
		st, _ := setup(b)
		subject := "test.product-hot"
		fillSubject(b, st, subject, n)
		ctx := context.Background()
		b.Run(fmt.Sprintf("events=%d/LoadAfter", n), func(b *testing.B) {
			for b.Loop() {
				evs, _, err := st.LoadAfter(ctx, testStream.Name, subject, 0)
				if err != nil || len(evs) != n {
					b.Fatal(err, len(evs))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
		b.Run(fmt.Sprintf("events=%d/raw-ordered-consumer", n), func(b *testing.B) {
			s, err := st.JetStream().Stream(ctx, testStream.Name)
			require.NoError(b, err)
			for b.Loop() {
				c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
				if err != nil {
					b.Fatal(err)
				}
				got := 0
				for got < n {
					batch, err := c.FetchNoWait(min(n-got, 1000))
					if err != nil {
						b.Fatal(err)
					}
					for range batch.Messages() {
						got++
					}
					if batch.Error() != nil {
						b.Fatal(batch.Error())
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}
