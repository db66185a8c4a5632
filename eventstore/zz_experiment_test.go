package eventstore

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
)

func TestZZExperiment(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skip(string(out))
	}
	defer exec.Command("umount", dir).Run()
	emb, err := StartEmbedded(EmbeddedConfig{StoreDir: filepath.Join(dir, "nats"), Listen: "127.0.0.1:0"})
	if err != nil { t.Fatal(err) }
	defer emb.Shutdown()
	st, err := Connect(context.Background(), Options{URL: emb.ClientURL()})
	if err != nil { t.Fatal(err) }
	defer st.Close()
	if err := st.EnsureStreams(context.Background(), DefaultStreams()); err != nil { t.Fatal(err) }
	body := []byte(`"` + string(make([]byte, 0)) + `"`); big := make([]byte, 100<<10); for i := range big { big[i] = 97 }; body = []byte(`"` + string(big) + `"`)
	pub := func(tag string) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		ack, err := st.Append(ctx, LogsSubject, NoExpectation, Envelope{ID: uuid.Must(uuid.NewV7()), Type: "test.x.v1", OccurredAt: time.Now(), Data: body})
		t.Logf("%s: ack=%+v err=%v in %s; healthz=%+v jsEnabled=%v", tag, ack, err, time.Since(start), emb.srv.Healthz(&server.HealthzOptions{}), emb.srv.JetStreamEnabled())
	}
	pub("before")
	f, _ := os.Create(filepath.Join(dir, "filler"))
	buf := make([]byte, 1<<20)
	for { if _, err := f.Write(buf); err != nil { break } }
	f.Close()
	pub("full1")
	pub("full2")
	os.Remove(filepath.Join(dir, "filler"))
	pub("freed1")
	pub("freed2")
	t.Logf("shutdown js: %v", emb.srv.ShutdownJetStream())
	t.Logf("enable js: %v", emb.srv.EnableJetStream(&server.JetStreamConfig{StoreDir: filepath.Join(dir, "nats"), MaxMemory: 256<<20, MaxStore: 1<<40}))
	pub("reenabled1")
	pub("reenabled2")
	si, err := st.JetStream().Stream(context.Background(), LogsStream)
	if err == nil { info, _ := si.Info(context.Background()); t.Logf("state %+v", info.State) }
}
