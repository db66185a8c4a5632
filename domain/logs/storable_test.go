package logs

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// storableCases are entries at the edges of what PostgreSQL can store
// (text columns, a jsonb context): every one PostgreSQL refuses is refused
// here with the field it is in; every one it stores is accepted unchanged.
// projections' TestAcceptedEntriesAreStoredUnchanged runs the same bodies
// through a real PostgreSQL.
var storableCases = []struct {
	name      string
	body      string
	wantField string // "" when the entry must be accepted
	wantErr   string
}{
	// The reproductions.
	{name: "number overflows numeric", body: `{"message":"x","context":{"n":1e999999}}`, wantField: "context.n", wantErr: "numeric"},
	{name: "lone high surrogate", body: `{"message":"y","context":{"s":"\ud800"}}`, wantField: "context.s", wantErr: "surrogate"},
	{name: "raw 0xff byte in a context string", body: "{\"message\":\"m\",\"context\":{\"s\":\"a\xffb\"}}", wantField: "context.s", wantErr: "UTF-8"},
	{name: "tiny number underflows numeric scale", body: `{"message":"m","context":{"n":1e-999999}}`, wantField: "context.n", wantErr: "decimal point"},
	{name: "200000-digit integer", body: `{"message":"m","context":{"n":1` + strings.Repeat("0", 199999) + `}}`, wantField: "context.n", wantErr: "numeric"},

	// Text that looks like an escape is text.
	{name: "escaped backslash u0000 in context", body: `{"message":"m","context":{"k":"\\u0000"}}`},
	{name: "escaped backslash u0000 in message", body: `{"message":"\\u0000","source":"\\u0000"}`},
	{name: "escaped backslash then real escape", body: `{"message":"m","context":{"k":"\\\u00e9"}}`},

	// NUL anywhere.
	{name: "NUL in a context key", body: `{"message":"m","context":{"a\u0000":1}}`, wantField: "context", wantErr: "key"},
	{name: "NUL deep in context", body: `{"message":"m","context":{"a":[1,{"b":"x\u0000"}]}}`, wantField: "context.a[1].b", wantErr: "NUL"},
	{name: "NUL in source", body: `{"message":"m","source":"a\u0000"}`, wantField: "source", wantErr: "NUL"},

	// Invalid UTF-8 anywhere is refused, not replaced by U+FFFD.
	{name: "invalid UTF-8 in message", body: "{\"message\":\"a\xffb\"}", wantField: "message", wantErr: "UTF-8"},
	{name: "invalid UTF-8 in source", body: "{\"message\":\"m\",\"source\":\"\xc3\"}", wantField: "source", wantErr: "UTF-8"},
	{name: "invalid UTF-8 in level", body: "{\"level\":\"info\xff\",\"message\":\"m\"}", wantField: "level", wantErr: "UTF-8"},
	{name: "invalid UTF-8 in a context key", body: "{\"message\":\"m\",\"context\":{\"k\xfe\":1}}", wantField: "context", wantErr: "key"},
	{name: "encoded surrogate in raw UTF-8", body: "{\"message\":\"\xed\xa0\x80\"}", wantField: "message", wantErr: "UTF-8"},
	{name: "overlong encoding", body: "{\"message\":\"\xc0\xaf\"}", wantField: "message", wantErr: "UTF-8"},
	{name: "real U+FFFD is text", body: "{\"message\":\"\xef\xbf\xbd \\ufffd\",\"context\":{\"\xef\xbf\xbd\":\"\\uFFFD\"}}"},

	// Surrogates.
	{name: "lone low surrogate in message", body: `{"message":"\udfff"}`, wantField: "message", wantErr: "surrogate"},
	{name: "high surrogate then a letter", body: `{"message":"\ud800A"}`, wantField: "message", wantErr: "surrogate"},
	{name: "high surrogate then a non-low escape", body: `{"message":"m","context":{"s":"\ud83d\u0041"}}`, wantField: "context.s", wantErr: "surrogate"},
	{name: "two high surrogates", body: `{"message":"m","context":{"s":"\ud83d\ud83d"}}`, wantField: "context.s", wantErr: "surrogate"},
	{name: "lone surrogate in a key", body: `{"message":"m","context":{"\udc00":1}}`, wantField: "context", wantErr: "key"},
	{name: "surrogate pair", body: `{"message":"\ud83d\ude00","context":{"\uD83D\uDE00":"\ud83d\ude00"}}`},

	// Numbers at PostgreSQL's numeric limits.
	{name: "131072 digits before the point", body: `{"message":"m","context":{"n":1e131071}}`},
	{name: "131073 digits before the point", body: `{"message":"m","context":{"n":1e131072}}`, wantField: "context.n", wantErr: "131072"},
	{name: "131072-digit integer", body: `{"message":"m","context":{"n":9` + strings.Repeat("9", 131071) + `}}`},
	{name: "131073-digit integer", body: `{"message":"m","context":{"n":-1` + strings.Repeat("0", 131072) + `}}`, wantField: "context.n", wantErr: "131072"},
	{name: "leading fraction zeros shift the weight", body: `{"message":"m","context":{"n":0.00001e131076}}`},
	{name: "weight over by one with fraction", body: `{"message":"m","context":{"n":12345.6789e131068}}`, wantField: "context.n"},
	{name: "16383 digits after the point", body: `{"message":"m","context":{"n":1e-16383}}`},
	{name: "16384 digits after the point", body: `{"message":"m","context":{"n":1e-16384}}`, wantField: "context.n", wantErr: "16383"},
	{name: "16384 written fraction digits", body: `{"message":"m","context":{"n":0.` + strings.Repeat("0", 16383) + `1}}`, wantField: "context.n", wantErr: "16383"},
	{name: "16383 written fraction digits", body: `{"message":"m","context":{"n":-0.` + strings.Repeat("7", 16383) + `}}`},
	{name: "trailing zeros count as scale", body: `{"message":"m","context":{"n":1.5e-16383}}`, wantField: "context.n"},
	{name: "zero with a huge exponent", body: `{"message":"m","context":{"n":0e999999}}`},
	{name: "zero at the exponent limit", body: `{"message":"m","context":{"n":0E+1073741822}}`},
	{name: "zero beyond the exponent limit", body: `{"message":"m","context":{"n":0e1073741823}}`, wantField: "context.n"},
	{name: "exponent beyond int64", body: `{"message":"m","context":{"n":0e99999999999999999999999}}`, wantField: "context.n"},
	{name: "zero with a negative exponent at the scale limit", body: `{"message":"m","context":{"n":-0e-16383}}`},
	{name: "zero with too small an exponent", body: `{"message":"m","context":{"n":0e-16384}}`, wantField: "context.n"},
	{name: "ordinary numbers", body: `{"message":"m","context":{"a":[0,-0,1.5,-2E+3,1e-3,123456789012345678901234567890,0.1000]}}`},

	// Shapes.
	{name: "empty key and duplicate keys", body: `{"message":"m","context":{"":1,"a":1,"a":2}}`},
	{name: "nesting at the limit", body: `{"message":"m","context":` + nested(MaxContextDepth) + `}`},
	{name: "nesting over the limit", body: `{"message":"m","context":` + nested(MaxContextDepth+1) + `}`, wantField: "context", wantErr: "levels"},
	{name: "unicode and escapes", body: `{"message":"tab\t \u00e9 \u2028 \/ \"q\" <&>","source":"é","context":{"emoji":"😀","esc":"\b\f\n\r\t\/"}}`},
	{name: "number path in an array", body: `{"message":"m","context":{"list":[1,2,1e999999]}}`, wantField: "context.list[2]"},
	{name: "odd key is quoted in the path", body: `{"message":"m","context":{"a.b c":{"x":1e999999}}}`, wantField: `context["a.b c"].x`},
}

// nested is n levels of context: {"a":{"a":…[…]…}}.
func nested(n int) string {
	open, cl := "", ""
	for i := range n {
		if i%2 == 0 {
			open += `{"a":`
			cl = "}" + cl
		} else {
			open += "["
			cl = "]" + cl
		}
	}
	return open + "1" + cl
}

func TestDecodeRefusesWhatPostgreSQLCannotStore(t *testing.T) {
	for _, tt := range storableCases {
		t.Run(tt.name, func(t *testing.T) {
			e, fe := DecodeSingle([]byte(tt.body), now)
			if tt.wantField == "" {
				require.Nil(t, fe, "must be accepted")
				checkValid(t, e)
				return
			}
			require.NotNil(t, fe, "must be refused")
			require.Equal(t, -1, fe.Index)
			require.Equal(t, tt.wantField, fe.Field, fe.Error())
			require.Contains(t, fe.Error(), tt.wantErr)

			// In a batch, the same error names the entry's index.
			entries, fe := DecodeArray([]byte(`[{"message":"ok"},`+tt.body+`]`), now)
			require.Nil(t, entries)
			require.NotNil(t, fe)
			require.Equal(t, 1, fe.Index)
			require.Equal(t, tt.wantField, fe.Field)
			_, fe = DecodeNDJSON([]byte("{\"message\":\"ok\"}\n"+tt.body+"\n"), now)
			require.NotNil(t, fe)
			require.Equal(t, 1, fe.Index)
			require.Equal(t, tt.wantField, fe.Field)
		})
	}
}

func TestDecodeKeepsTextExactly(t *testing.T) {
	e, fe := DecodeSingle([]byte(`{"message":"a\\u0000b \ud83d\ude00 \u00e9","source":"s\\u0000","context":{"k":"\\u0000","n":1.50,"big":1E+3}}`), now)
	require.Nil(t, fe)
	require.Equal(t, `a\u0000b 😀 é`, e.Message)
	require.Equal(t, `s\u0000`, e.Source)
	require.Equal(t, `{"k":"\\u0000","n":1.50,"big":1E+3}`, string(e.Context), "the context is compacted, never rewritten")
}

func TestValidateChecksGoStrings(t *testing.T) {
	msg := "m"
	_, fe := Input{Message: &msg, Source: "a\xffb"}.Validate(now)
	require.NotNil(t, fe)
	require.Equal(t, "source", fe.Field)
	_, fe = Input{Message: &msg, Context: []byte(`{"n":1e999999}`)}.Validate(now)
	require.NotNil(t, fe)
	require.Equal(t, "context.n", fe.Field)
	e, fe := Input{Message: &msg, Context: []byte(` { "k" : [ 1 , "\\u0000" ] } `)}.Validate(now)
	require.Nil(t, fe)
	require.Equal(t, `{"k":[1,"\\u0000"]}`, string(e.Context))
}
