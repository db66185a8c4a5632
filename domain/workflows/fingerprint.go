package workflows

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// Bounds of a workflow's fields, checked when a listing is read: a
// workflow with a longer field is not stored (an item error of its sync),
// so that a tenant cannot make the event log and the read model grow by
// its descriptions' size.
const (
	// MaxNameBytes bounds a workflow's name.
	MaxNameBytes = 1024
	// MaxDescriptionBytes bounds a workflow's description.
	MaxDescriptionBytes = 16 << 10
	// MaxStatusBytes bounds a workflow's status ("Active", "Inactive").
	MaxStatusBytes = 64
)

// Fingerprint identifies a workflow's stored data (name, description,
// status and times): two workflows with the same data have the same
// fingerprint. A sync compares fingerprints, never whole rows, so that it
// holds no description in memory beyond the page it lists.
type Fingerprint [sha256.Size]byte

// DescriptionHash is the SHA-256 of a description, as PostgreSQL's
// sha256(convert_to(description, 'UTF8')) computes it.
func DescriptionHash(description string) [sha256.Size]byte {
	return sha256.Sum256([]byte(description))
}

// FingerprintOf is the fingerprint of a workflow's fields, its description
// given by its hash (DescriptionHash).
func FingerprintOf(name, status string, createdAt, updatedAt time.Time, descHash [sha256.Size]byte) Fingerprint {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte(name))
	field([]byte(status))
	field(descHash[:])
	for _, t := range []time.Time{createdAt, updatedAt} {
		binary.BigEndian.PutUint64(n[:], uint64(t.UTC().UnixMicro())) // PostgreSQL keeps microseconds
		h.Write(n[:])
	}
	var f Fingerprint
	h.Sum(f[:0])
	return f
}

// Fingerprint returns w's fingerprint.
func (w Workflow) Fingerprint() Fingerprint {
	return FingerprintOf(w.Name, w.Status, w.CreatedAt, w.UpdatedAt, DescriptionHash(w.Description))
}
