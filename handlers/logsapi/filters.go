package logsapi

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/projections/logentries"
)

// Context filters of GET /api/logs: attr.K=V matches an entry whose
// context.attributes.K (OpenTelemetry) or context.K (our own API) is V;
// resource.K=V one whose context.resource.K is V; ctx.K=V one whose
// context.K is V. K is one key, dots included ("service.name"): OTLP's
// attribute keys are flat. V matches the string V, and the number or
// boolean V spells when it spells one ("42" matches 42 and "42"). Each is a
// jsonb containment test (context @> …), and a search block holds the
// entries it may match only if it holds one of its tokens (blocksearch.go);
// several filters must all match.
const (
	maxContextFilters = 10
	maxFilterKey      = 256
	maxFilterValue    = 1024
)

// contextFilter is one parsed filter: the documents any of which the
// context must contain.
type contextFilter struct {
	param string
	docs  []string
	// tokens are the search-block tokens of docs (a block holding none
	// holds no entry the filter matches).
	tokens []int32
}

// filterPrefixes maps a query prefix to the context paths it searches.
var filterPrefixes = []struct {
	prefix string
	paths  [][]string // nil element: the top level
	leaves []byte     // each path's search-block leaf (logentries.Leaf*)
}{
	{"attr.", [][]string{{"attributes"}, nil}, []byte{logentries.LeafAttributes, logentries.LeafTop}},
	{"resource.", [][]string{{"resource"}}, []byte{logentries.LeafResource}},
	{"ctx.", [][]string{nil}, []byte{logentries.LeafTop}},
}

// parseContextFilters reads the context filters of a query.
func parseContextFilters(v url.Values) ([]contextFilter, error) {
	var params []string
	for k := range v {
		for _, p := range filterPrefixes {
			if strings.HasPrefix(k, p.prefix) {
				params = append(params, k)
			}
		}
	}
	sort.Strings(params) // the same query, the same SQL
	if len(params) > maxContextFilters {
		return nil, httpapi.FieldErr(params[maxContextFilters], fmt.Sprintf("At most %d context filters (attr., resource., ctx.) are accepted.", maxContextFilters))
	}
	var out []contextFilter
	for _, param := range params {
		for _, p := range filterPrefixes {
			key, ok := strings.CutPrefix(param, p.prefix)
			if !ok {
				continue
			}
			val := v.Get(param)
			switch {
			case key == "" || len(key) > maxFilterKey:
				return nil, httpapi.FieldErr(param, fmt.Sprintf("A context filter names a key of 1 to %d bytes after %q.", maxFilterKey, p.prefix))
			case len(val) > maxFilterValue:
				return nil, httpapi.FieldErr(param, fmt.Sprintf("%s must be at most %d bytes.", param, maxFilterValue))
			case !storableText(key) || !storableText(val):
				return nil, httpapi.FieldErr(param, param+" must be valid UTF-8 without NUL characters.")
			}
			f := contextFilter{param: param}
			for _, value := range filterValues(val) {
				for i, path := range p.paths {
					f.docs = append(f.docs, containment(path, key, value))
					if t, ok := logentries.LeafToken(p.leaves[i], key, value); ok {
						f.tokens = append(f.tokens, t)
					}
				}
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// storableText tells whether PostgreSQL can compare s: UTF-8 without NUL.
func storableText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// filterValues are the JSON values a filter value stands for.
func filterValues(v string) []json.RawMessage {
	s, _ := json.Marshal(v)
	out := []json.RawMessage{s}
	if v == "true" || v == "false" {
		return append(out, json.RawMessage(v))
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil && json.Valid([]byte(v)) && strings.TrimSpace(v) == v {
		out = append(out, json.RawMessage(v))
	}
	return out
}

// containment is {"path0":{…{"key":value}}}.
func containment(path []string, key string, value json.RawMessage) string {
	k, _ := json.Marshal(key)
	doc := "{" + string(k) + ":" + string(value) + "}"
	for i := len(path) - 1; i >= 0; i-- {
		p, _ := json.Marshal(path[i])
		doc = "{" + string(p) + ":" + doc + "}"
	}
	return doc
}
