package logs

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Stream and subject of the logging events. All entries share one subject
// so that the broker keeps no per-entry subject state.
const (
	// Stream is the JetStream stream that holds accepted log entries.
	Stream = "LOGS"
	// Subject is the one subject log entries are appended to.
	Subject = "logs.entries"
	// Subjects is the stream's subject filter.
	Subjects = "logs.>"
)

// EntriesReceivedV1 is the type name of the event that carries accepted log
// entries. Entries that arrive together share one event (group commit).
const EntriesReceivedV1 = "log.entries_received.v1"

// EntriesReceived is the payload of EntriesReceivedV1.
type EntriesReceived struct {
	Entries []Entry `json:"entries"`
}

// Events is the decode table of the logging events: each versioned type
// name with the function that decodes its payload. The projector and every
// other reader decode through it (Decode); old payloads in testdata/ must
// keep decoding.
func Events() map[string]func(data []byte) (any, error) {
	return map[string]func([]byte) (any, error){
		EntriesReceivedV1: func(data []byte) (any, error) {
			entries, err := DecodeEntriesReceived(data)
			if err != nil {
				return nil, err
			}
			return &EntriesReceived{Entries: entries}, nil
		},
	}
}

// ErrUnknownEvent reports an event type the logging domain does not know.
var ErrUnknownEvent = errors.New("logs: unknown event type")

var decoders = Events()

// Decode decodes the payload of a logging event of type eventType through
// the decode table.
func Decode(eventType string, data []byte) (any, error) {
	dec, ok := decoders[eventType]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownEvent, eventType)
	}
	return dec(data)
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
