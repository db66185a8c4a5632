//go:build !race

package eventstore_test

// raceDetector is true when the tests run under the race detector, whose
// CPU cost swamps what a timing guard compares.
const raceDetector = false
