// Package eventtest holds the checks every domain's decode table gets in its
// tests: the stored payloads in testdata/ (one envelope per event type, the
// file named after the type) and the shape of the type names.
package eventtest
