package pgcluster

// SetFreePort makes Start pick ports with f until restore is called.
func SetFreePort(f func() (int, error)) (restore func()) {
	freePort = f
	return func() { freePort = FreePort }
}
