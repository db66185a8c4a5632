package packed

import (
	"fmt"

	json "github.com/go-json-experiment/json/v1"
)

// Event is one packed event: its type and payload.
type Event struct {
	Type string
	Data any
}

// stored is an event as stored in the pack.
type stored struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// Marshal encodes events; what names them in errors, and a type that
// packable refuses (a pack inside a pack, say) is an error.
func Marshal(what string, events []Event, packable func(eventType string) bool) ([]byte, error) {
	out := struct {
		Events []stored `json:"events"`
	}{Events: make([]stored, len(events))}
	for i, e := range events {
		if !packable(e.Type) {
			return nil, fmt.Errorf("%s %d: %q cannot be packed", what, i, e.Type)
		}
		data, err := json.Marshal(e.Data)
		if err != nil {
			return nil, fmt.Errorf("%s %d (%s): %w", what, i, e.Type, err)
		}
		out.Events[i] = stored{Type: e.Type, Data: data}
	}
	return json.Marshal(out)
}

// Unmarshal decodes b, which must hold 1..most events, each through its
// type's decoder in table (a type table lacks cannot be in a pack).
func Unmarshal(what string, b []byte, table map[string]func([]byte) (any, error), most int) ([]Event, error) {
	var in struct {
		Events []stored `json:"events"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, err
	}
	if len(in.Events) == 0 || len(in.Events) > most {
		return nil, fmt.Errorf("%s: %d events, want 1..%d", what, len(in.Events), most)
	}
	out := make([]Event, len(in.Events))
	for i, r := range in.Events {
		dec, ok := table[r.Type]
		if !ok {
			return nil, fmt.Errorf("%s %d: %q cannot be packed", what, i, r.Type)
		}
		data, err := dec(r.Data)
		if err != nil {
			return nil, fmt.Errorf("%s %d (%s): %w", what, i, r.Type, err)
		}
		out[i] = Event{Type: r.Type, Data: data}
	}
	return out, nil
}
