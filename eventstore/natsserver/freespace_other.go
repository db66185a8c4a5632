//go:build !(linux || darwin || freebsd)

package natsserver

// freeBytes cannot measure free space on this platform: the guard admits
// every append and relies on the server's own errors.
func freeBytes(string) (int64, error) { return 0, errFreeSpaceUnknown }
