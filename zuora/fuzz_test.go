package zuora

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzDecodePage checks that no page body panics the decoder and that
// whatever it accepts is usable: positive ids, valid UTF-8, Raw valid JSON.
func FuzzDecodePage(f *testing.F) {
	for _, seed := range []string{
		`{"data":[{"id":1,"name":"a","status":"Active","createdAt":"2026-01-01 00:00:00","updatedAt":"2026-01-01T00:00:00Z"}],"pagination":{"next_page":"/workflows?page=2","page":1,"page_length":50}}`,
		`{"data":[],"pagination":{}}`,
		`{"data":[{"id":"7","name":"\u00e9\ud800","description":null}]}`,
		`{"data":[{"id":1.5}]}`,
		`{"data":{}}`,
		`[]`,
		"{\"data\":[{\"id\":1,\"name\":\"\xff\xfe\"}]}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		page, next, _, err := decodePage(body, 1)
		if err != nil {
			return
		}
		if !utf8.ValidString(next) {
			t.Fatalf("next_page %q is not valid UTF-8", next)
		}
		for i, wf := range page.Workflows {
			if wf.ID <= 0 {
				t.Fatalf("workflow %d: id %d", i, wf.ID)
			}
			if !utf8.ValidString(wf.Name) || !utf8.ValidString(wf.Description) || !utf8.ValidString(wf.Status) {
				t.Fatalf("workflow %d: invalid UTF-8 in %+v", i, wf)
			}
			if !json.Valid(wf.Raw) || !utf8.Valid(wf.Raw) {
				t.Fatalf("workflow %d: raw %q is not valid JSON", i, wf.Raw)
			}
		}
	})
}
