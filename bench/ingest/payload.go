package main

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// entry is one generated log entry, as a client sends it.
type entry struct {
	Level   string          `json:"level"`
	Message string          `json:"message"`
	Context json.RawMessage `json:"context"`
	Source  string          `json:"source"`
}

var benchLevels = []string{"info", "info", "info", "debug", "notice", "warning", "error"}

// genEntry is entry i of a deterministic, realistic-looking stream: about
// 250 bytes of JSON with a small context object.
func genEntry(i int) entry {
	status := []int{200, 200, 200, 201, 204, 404, 500}[i%7]
	return entry{
		Level: benchLevels[i%len(benchLevels)],
		Message: fmt.Sprintf("GET /api/orders/%d completed with status %d in %dms for tenant acme-%d (bench entry %08d)",
			i*7919%100000, status, i%97+1, i%13, i),
		Context: json.RawMessage(fmt.Sprintf(`{"request_id":"%016x","user_id":%d,"path":"/api/orders","attempt":%d}`,
			uint64(i)*0x9E3779B97F4A7C15, i%5000, i%3+1)),
		Source: fmt.Sprintf("svc-%d", i%8),
	}
}

// payloads holds everything the load generators send, encoded once so that
// the client spends its CPU on requests, not on encoding.
type payloads struct {
	// singles are single-entry bodies for POST /api/logs.
	singles [][]byte
	// batches are JSON-array bodies for POST /api/logs/batch.
	batches [][]byte
	// batchEntries are the entries of batches, encoded one by one: the
	// raw per-entry JetStream baseline publishes exactly these bytes.
	batchEntries [][]byte
	// perBatch is the number of entries in each of batches.
	perBatch int
	// entries are the decoded entries of batchEntries (the CopyFrom rows).
	entries []entry
}

func newPayloads(singles, batches, perBatch int) (*payloads, error) {
	p := &payloads{perBatch: perBatch}
	for i := 0; i < singles; i++ {
		b, err := json.Marshal(genEntry(1_000_000 + i))
		if err != nil {
			return nil, err
		}
		p.singles = append(p.singles, b)
	}
	for b := 0; b < batches; b++ {
		var buf bytes.Buffer
		buf.WriteByte('[')
		for j := 0; j < perBatch; j++ {
			e := genEntry(b*perBatch + j)
			enc, err := json.Marshal(e)
			if err != nil {
				return nil, err
			}
			if j > 0 {
				buf.WriteByte(',')
			}
			buf.Write(enc)
			p.batchEntries = append(p.batchEntries, enc)
			p.entries = append(p.entries, e)
		}
		buf.WriteByte(']')
		p.batches = append(p.batches, buf.Bytes())
	}
	return p, nil
}

// avgEntryBytes is the mean encoded size of a batch entry.
func (p *payloads) avgEntryBytes() int {
	n := 0
	for _, b := range p.batchEntries {
		n += len(b)
	}
	return n / max(1, len(p.batchEntries))
}
