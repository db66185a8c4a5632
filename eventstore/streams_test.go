package eventstore_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/natsserver"
)

// MediumBlocks rests on a choice the server makes by itself (a per-subject
// limit gives 4 MiB blocks): this checks the blocks on disk, so that a
// server upgrade that chooses otherwise shows here.
func TestMediumBlocksAreStoredInSmallerBlocks(t *testing.T) {
	dir := t.TempDir()
	srv, err := natsserver.Start(natsserver.Config{StoreDir: dir, Listen: "127.0.0.1:0"})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	st, err := eventstore.Connect(context.Background(), eventstore.Options{URL: srv.ClientURL(), Name: t.Name()})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	ctx := context.Background()
	specs := []eventstore.StreamSpec{
		{Name: "MEDIUM", Subjects: []string{"medium.>"}, MediumBlocks: true},
		{Name: "LARGE", Subjects: []string{"large.>"}},
	}
	require.NoError(t, st.EnsureStreams(ctx, specs))
	require.NoError(t, st.EnsureStreams(ctx, specs), "running it again changes nothing")

	// 6 MiB on each: more than a 4 MiB block holds, less than an 8 MiB one.
	payload := map[string]string{"pad": strings.Repeat("x", 64<<10)}
	for i := range 96 {
		for _, subject := range []string{"medium.a", "large.a"} {
			_, err := st.Append(ctx, subject, eventstore.NoExpectation, newEvent(t, "test.padded.v1", payload))
			require.NoError(t, err, "append %d", i)
		}
	}
	blocks := func(stream string) []string {
		files, err := filepath.Glob(filepath.Join(dir, "jetstream", "*", "streams", stream, "msgs", "*.blk"))
		require.NoError(t, err)
		for _, f := range files {
			info, err := os.Stat(f)
			require.NoError(t, err)
			require.LessOrEqual(t, info.Size(), int64(8<<20), f)
		}
		return files
	}
	require.Len(t, blocks("LARGE"), 1, "one 8 MiB block holds 6 MiB")
	require.GreaterOrEqual(t, len(blocks("MEDIUM")), 2, "6 MiB takes two 4 MiB blocks")

	info, err := st.JetStream().Stream(ctx, "MEDIUM")
	require.NoError(t, err)
	require.EqualValues(t, 96, info.CachedInfo().State.Msgs, "the per-subject limit drops nothing")
}
