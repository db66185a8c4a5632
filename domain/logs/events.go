package logs

import (
	"encoding/json"

	"github.com/eventline/eventline/eventstore"
)

// EntriesReceivedV1 is the type name of the event that carries accepted log
// entries. Entries that arrive together share one event (group commit).
const EntriesReceivedV1 = "log.entries_received.v1"

// EntriesReceived is the payload of EntriesReceivedV1.
type EntriesReceived struct {
	Entries []Entry `json:"entries"`
}

// RegisterEvents adds the logging events to the decode table.
func RegisterEvents(r *eventstore.Registry) {
	r.Register(EntriesReceivedV1, func() any { return new(EntriesReceived) })
}

// EncodeEntry encodes one entry for inclusion in an EntriesReceived payload.
func EncodeEntry(e Entry) ([]byte, error) { return json.Marshal(e) }

// AppendPayload appends an EntriesReceived payload made of already encoded
// entries to dst, so that entries encoded by concurrent requests are joined
// without decoding them again.
func AppendPayload(dst []byte, encoded [][]byte) []byte {
	dst = append(dst, `{"entries":[`...)
	for i, e := range encoded {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, e...)
	}
	return append(dst, "]}"...)
}
