package logentries

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/stretchr/testify/require"
)

// entryTokens is the token set of one entry.
func entryTokens(message, context string) map[int32]bool {
	var s tokenSet
	s.addEntry(message, []byte(context))
	out := map[int32]bool{}
	for _, t := range s.take() {
		out[t] = true
	}
	return out
}

// A block must hold every token of any q that message ILIKE '%q%' matches,
// whatever the case of either: a substring of a message, cut anywhere
// (inside words too), in another case, is found.
func TestEveryCaseInsensitiveSubstringsTokensAreTheMessages(t *testing.T) {
	messages := []string{
		"POST /api/payments 4242 failed: card_declined (retrying in 5s)",
		"Ünïcödé Straße İstanbul ΣΊΣΥΦΟΣ façade naïve 東京都 日本語のログ",
		"\u212Aelvin and the ǅ digraph; ﬁle ligature; 123abcDEF456",
	}
	for _, m := range messages {
		toks := entryTokens(m, "")
		runes := []rune(m)
		for i := range runes {
			for j := i + 1; j <= len(runes) && j <= i+24; j++ {
				sub := string(runes[i:j])
				for _, q := range []string{sub, strings.ToUpper(sub), strings.ToLower(sub)} {
					for _, tok := range QueryTokens(q) {
						require.True(t, toks[tok], "q %q of message %q: token %d missing", q, m, tok)
					}
				}
			}
		}
	}
	// Characters PostgreSQL's lower() makes equal fold alike.
	for _, q := range []string{"kelvin", "istanbul", "STRASSE"[:4]} {
		require.NotEmpty(t, QueryTokens(q))
	}
	require.True(t, entryTokens("\u212Aelvin", "")[QueryTokens("kelvin")[0]])
	require.True(t, entryTokens("İstanbul", "")[QueryTokens("istanbul")[0]])
}

func TestQueryTokensNeedAWordOfThreeCharacters(t *testing.T) {
	require.Empty(t, QueryTokens("ab"))
	require.Empty(t, QueryTokens("a-b c_d %%"))
	require.Len(t, QueryTokens("abc"), 1)
	require.Len(t, QueryTokens("abcd abcd"), 2, "tokens are not repeated")
	// A message without the word has not all its tokens.
	toks := entryTokens("GET /api/orders 17", "")
	missing := false
	for _, tok := range QueryTokens("zanzibar") {
		missing = missing || !toks[tok]
	}
	require.True(t, missing)
}

// The context filters' tokens (attr., resource., ctx.) are in the block of
// an entry holding the value at that path, numbers by value.
func TestContextLeavesAreTokens(t *testing.T) {
	ctx := `{"attributes":{"user_id":42,"http.route":"/a\u00e9","ok":true,"nested":{"x":1},"list":[1,2]},` +
		`"resource":{"service.name":"checkout"},"user_id":7,"big":1e400}`
	toks := entryTokens("m", ctx)
	has := func(path byte, key, value string) bool {
		tok, ok := LeafToken(path, key, []byte(value))
		require.True(t, ok, value)
		return toks[tok]
	}
	require.True(t, has(LeafAttributes, "user_id", "42"))
	require.True(t, has(LeafAttributes, "user_id", "42.0"), "jsonb compares numbers by value")
	require.True(t, has(LeafAttributes, "user_id", "4.2e1"))
	require.True(t, has(LeafAttributes, "http.route", `"/aé"`), "strings unescaped")
	require.True(t, has(LeafAttributes, "ok", "true"))
	require.True(t, has(LeafResource, "service.name", `"checkout"`))
	require.True(t, has(LeafTop, "user_id", "7"))
	require.True(t, has(LeafTop, "big", "1e400"))

	require.False(t, has(LeafAttributes, "user_id", `"42"`), "the string is not the number")
	require.False(t, has(LeafTop, "user_id", "42"), "another path")
	require.False(t, has(LeafResource, "user_id", "42"))
	require.False(t, has(LeafAttributes, "ok", "false"))

	_, ok := LeafToken(LeafTop, "k", []byte("null"))
	require.False(t, ok)
	_, ok = LeafToken(LeafTop, "k", []byte(`{"a":1}`))
	require.False(t, ok)
	require.Empty(t, entryTokens("", `[1,2]`), "a context that is not an object has no leaves")
	require.Empty(t, entryTokens("", `{"attributes":`), "nor a broken one")
}

// A block ends at BlockEntries entries; its range spans its entries' times.
func TestBlocksAreCutAtBlockEntries(t *testing.T) {
	b := newBlockBuilder(true)
	base := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for i := range BlockEntries + 3 {
		b.add(base.Add(-time.Duration(i)*time.Millisecond), "entry", nil)
	}
	blocks := b.finish()
	require.Len(t, blocks, 2)
	require.Equal(t, BlockEntries, blocks[0].entries)
	require.Equal(t, 3, blocks[1].entries)
	require.True(t, blocks[0].first.Equal(base.Add(-time.Duration(BlockEntries-1)*time.Millisecond)))
	require.True(t, blocks[0].last.Equal(base))
	require.NotEmpty(t, blocks[0].tokens)

	u := newBlockBuilder(false)
	u.add(base, "entry", nil)
	require.Nil(t, u.finish()[0].tokens, "unindexed: NULL tokens")
}

// leavesByDecoder is the context's leaf tokens found through jsontext's
// decoder, the reference the scan of addContext must agree with.
func leavesByDecoder(t *testing.T, context string) map[int32]bool {
	t.Helper()
	out := map[int32]bool{}
	dec := jsontext.NewDecoder(strings.NewReader(context))
	tok, err := dec.ReadToken()
	if err != nil || tok.Kind() != '{' {
		return out
	}
	var walk func(path byte, top bool)
	walk = func(path byte, top bool) {
		for {
			tok, err := dec.ReadToken()
			require.NoError(t, err)
			if tok.Kind() == '}' {
				return
			}
			key := tok.String()
			v, err := dec.ReadValue()
			require.NoError(t, err)
			if top && v.Kind() == '{' && (key == "attributes" || key == "resource") {
				inner := byte(LeafAttributes)
				if key == "resource" {
					inner = LeafResource
				}
				sub := jsontext.NewDecoder(bytes.NewReader(v))
				saved := dec
				dec = sub
				_, _ = dec.ReadToken()
				walk(inner, false)
				dec = saved
				continue
			}
			if tok, ok := LeafToken(path, key, v); ok {
				out[tok] = true
			}
		}
	}
	walk(LeafTop, true)
	return out
}

func TestContextScanAgreesWithTheDecoder(t *testing.T) {
	contexts := []string{
		`{}`, ` { } `, `{"a":1}`,
		`{"user_id":42,"plan":"pro","ok":true,"no":false,"nothing":null,"f":-0.0,"e":1E2,"big":123456789012345678901234567890}`,
		` { "attributes" : { "user_id" : 4242 , "http.status" : 200 , "s" : "a \"quoted\" {brace} [x]" } , "resource" : {"service.name":"svc-7"} } `,
		`{"attributes":{"nested":{"attributes":{"x":1}},"arr":[{"a":"}"},"]",1],"after":"yes"},"k\u00e9y":"v\u00e9","\\back":"s\\"}`,
		`{"resource":"not an object","attributes":[1,2],"top":{"attributes":{"y":2}}}`,
		"{\"tab\":\"a\\tb\",\"uni\":\"\\u2028\\ud83d\\ude00\",\"x\":\"日本\"}",
		`{"attributes":{}, "resource":{ }, "z":0}`,
	}
	for _, cx := range contexts {
		require.True(t, json.Valid([]byte(cx)), cx)
		want := leavesByDecoder(t, cx)
		got := entryTokens("", cx)
		require.Equal(t, want, got, cx)
	}
	require.NotEmpty(t, entryTokens("", contexts[3]))
}
