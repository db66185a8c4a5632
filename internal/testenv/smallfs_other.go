//go:build !linux

package testenv

import "testing"

// SmallFS skips the test: mounting a small filesystem is done on Linux only.
func SmallFS(t testing.TB, dir string, size int64) {
	t.Helper()
	t.Skip("small filesystems are mounted on Linux only")
}

// FreeBytes skips the test: free space is measured on Linux only.
func FreeBytes(t testing.TB, dir string) int64 {
	t.Helper()
	t.Skip("free space is measured on Linux only")
	return 0
}

// FillFS skips the test: filling a filesystem is done on Linux only.
func FillFS(t testing.TB, dir string, leave int64) string {
	t.Helper()
	t.Skip("filling a filesystem is done on Linux only")
	return ""
}
