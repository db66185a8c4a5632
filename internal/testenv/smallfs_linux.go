package testenv

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// SmallFS mounts a tmpfs of size bytes on dir (created if missing) for the
// test and unmounts it when the test ends. Mounting needs root: the test is
// skipped, saying why, when it is not root or the mount fails.
func SmallFS(t testing.TB, dir string, size int64) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small filesystem")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.FormatInt(size, 10), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a small filesystem on %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			// Something still holds it open: detach it now, free it when released.
			out2, err2 := exec.Command("umount", "-l", dir).CombinedOutput()
			if err2 != nil {
				t.Errorf("umount %s: %v: %s; %v: %s", dir, err, out, err2, out2)
			}
		}
	})
}

// FreeBytes is what an unprivileged writer may still store on dir's filesystem.
func FreeBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(dir, &st))
	return int64(st.Bavail) * st.Bsize
}

// FillFS writes a filler file into dir until at most leave bytes are free on
// its filesystem, and returns the filler's path (remove it to free the space).
func FillFS(t testing.TB, dir string, leave int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for free := FreeBytes(t, dir); free > leave; free = FreeBytes(t, dir) {
		n := min(int64(len(chunk)), free-leave)
		if _, err := f.Write(chunk[:n]); err != nil {
			require.True(t, errors.Is(err, syscall.ENOSPC), "fill %s: %v", dir, err)
			break
		}
	}
	return path
}
