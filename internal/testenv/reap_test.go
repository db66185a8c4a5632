package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/pgcluster"
)

// A cluster whose test binary died is stopped and removed; one whose
// binary lives, and a directory that never held a cluster but whose owner
// lives, are left alone.
func TestReapOrphansStopsTheClustersOfDeadBinaries(t *testing.T) {
	root, err := os.MkdirTemp("", "eventline-reap-*")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	require.NoError(t, os.Chmod(root, 0o755)) // the postgres user must reach the clusters

	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	deadPID := dead.Process.Pid
	require.False(t, alive(deadPID))

	orphan, err := os.MkdirTemp(root, clusterPattern)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, orphan, pgcluster.Options{Ephemeral: true, Database: "postgres"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop() })
	require.NoError(t, os.WriteFile(orphan+ownerSuffix, []byte(strconv.Itoa(deadPID)), 0o600))
	pm, ok := postmaster(orphan)
	require.True(t, ok, "the orphan's postgres runs")

	mine, err := os.MkdirTemp(root, clusterPattern)
	require.NoError(t, err)
	require.NoError(t, claim(mine))

	require.Equal(t, 1, reapOrphans(root))
	require.False(t, alive(pm), "the orphan's postgres is stopped")
	require.NoDirExists(t, orphan)
	require.NoFileExists(t, orphan+ownerSuffix)
	require.DirExists(t, mine)
	require.FileExists(t, filepath.Clean(mine+ownerSuffix))
	require.Zero(t, reapOrphans(root), "nothing left to reap")
}
