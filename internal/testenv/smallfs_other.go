//go:build !linux

package testenv

import "testing"

// SmallFS skips the test: mounting a small filesystem is done on Linux only.
func SmallFS(t testing.TB, dir string, size int64) {
	t.Helper()
	t.Skip("small filesystems are mounted on Linux only")
}

// FreeBytes is not implemented off Linux.
func FreeBytes(t testing.TB, dir string) int64 {
	t.Helper()
	t.Skip("free space is measured on Linux only")
	return 0
}

// FillFS is not implemented off Linux.
func FillFS(t testing.TB, dir string, leave int64) string {
	t.Helper()
	t.Skip("filling a filesystem is done on Linux only")
	return ""
}
