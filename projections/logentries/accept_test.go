package logentries_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/logentries"
)

// acceptSeeds are bodies at the edges of what PostgreSQL stores. ownRule
// marks the ones refused by a limit of ours that PostgreSQL does not have.
var acceptSeeds = []struct {
	body    string
	ownRule bool
}{
	{body: `{"message":"x","context":{"n":1e999999}}`},
	{body: `{"message":"y","context":{"s":"\ud800"}}`},
	{body: "{\"message\":\"m\",\"context\":{\"s\":\"a\xffb\"}}"},
	{body: `{"message":"m","context":{"n":1e-999999}}`},
	{body: `{"message":"m","context":{"n":1` + strings.Repeat("0", 199999) + `}}`},
	{body: `{"message":"\\u0000","source":"\\u0000","context":{"\\u0000":"\\u0000"}}`},
	{body: `{"message":"\\\u00e9\\\\","context":{"k":"\\\\\\u0000"}}`},
	{body: `{"message":"a\u0000b"}`},
	{body: `{"message":"m","source":"\u0000"}`},
	{body: `{"message":"m","context":{"\u0000":1}}`},
	{body: "{\"message\":\"\xc3\"}"},
	{body: "{\"message\":\"m\",\"source\":\"\xed\xa0\x80\"}"},
	{body: "{\"message\":\"m\",\"context\":{\"\xfe\":1}}"},
	{body: "{\"message\":\"\xef\xbf\xbd \\ufffd \xef\xbf\xbf \xf4\x8f\xbf\xbf\"}"},
	{body: `{"message":"\udfff"}`},
	{body: `{"message":"\ud800A"}`},
	{body: `{"message":"m","context":{"s":"\ud83d\u0041"}}`},
	{body: `{"message":"m","context":{"s":"\ud83d\ud83d"}}`},
	{body: `{"message":"\ud83d\ude00","context":{"\uD83D\uDE00":"\udbff\udfff"}}`},
	{body: `{"message":"m","context":{"n":1e131071}}`},
	{body: `{"message":"m","context":{"n":1e131072}}`},
	{body: `{"message":"m","context":{"n":-9.999e131071}}`},
	{body: `{"message":"m","context":{"n":9` + strings.Repeat("9", 131071) + `}}`},
	{body: `{"message":"m","context":{"n":1` + strings.Repeat("0", 131072) + `}}`},
	{body: `{"message":"m","context":{"n":0.00001e131076}}`},
	{body: `{"message":"m","context":{"n":0.00001e131077}}`},
	{body: `{"message":"m","context":{"n":12345.6789e131067}}`},
	{body: `{"message":"m","context":{"n":12345.6789e131068}}`},
	{body: `{"message":"m","context":{"n":1e-16383}}`},
	{body: `{"message":"m","context":{"n":1e-16384}}`},
	{body: `{"message":"m","context":{"n":1.5e-16383}}`},
	{body: `{"message":"m","context":{"n":-0.` + strings.Repeat("0", 16382) + `1}}`},
	{body: `{"message":"m","context":{"n":0.` + strings.Repeat("0", 16383) + `1}}`},
	{body: `{"message":"m","context":{"n":0.` + strings.Repeat("0", 100000) + `1e100000}}`},
	{body: `{"message":"m","context":{"n":1` + strings.Repeat("0", 100000) + `e-100000}}`},
	{body: `{"message":"m","context":{"n":0e999999,"z":-0E-16383,"w":0.0e-16382}}`},
	{body: `{"message":"m","context":{"n":0e1073741822}}`},
	{body: `{"message":"m","context":{"n":0e1073741823}}`},
	{body: `{"message":"m","context":{"n":0e-1073741822}}`},
	{body: `{"message":"m","context":{"n":0e-16384}}`},
	{body: `{"message":"m","context":{"n":5e99999999999999999999}}`},
	{body: `{"message":"m","context":{"a":[0,-0,1.5,-2E+3,1e-3,123456789012345678901234567890,0.1000,1.0e2]}}`},
	{body: `{"message":"m","context":{"":1,"a":1,"a":{"b":2},"a":[3]}}`},
	{body: `{"message":"m","context":` + nestedContext(logs.MaxContextDepth) + `}`},
	{body: `{"message":"m","context":` + nestedContext(logs.MaxContextDepth+1) + `}`, ownRule: true},
	{body: "{ \"level\" : \"ERROR\" ,\n \"message\" : \"tab\\t \\u2028 \\/ \\\"q\\\" <&>\" ,\r\n \"source\":\"é\", \"context\" : { \"k\" : [ 1 , { } , [ ] , \"\\b\\f\\n\\r\\t\" ] } }"},
	{body: `{"message":"m","context":{"html":"<script>&amp;</script>","ls":"\u2028\u2029"}}`},
}

// nestedContext is n levels of nesting: {"a":[{"a":…1…}]}.
func nestedContext(n int) string {
	var open, cl strings.Builder
	for i := range n {
		if i%2 == 0 {
			open.WriteString(`{"a":`)
		} else {
			open.WriteString("[")
		}
	}
	for i := n - 1; i >= 0; i-- {
		if i%2 == 0 {
			cl.WriteString("}")
		} else {
			cl.WriteString("]")
		}
	}
	return open.String() + "1" + cl.String()
}

// TestAcceptedEntriesAreStoredUnchanged is the property behind a 202: every
// entry the decoder accepts is stored by the logs projection into a real
// PostgreSQL unchanged (text byte for byte, context equal as jsonb to what
// was sent) and nothing is parked; every entry it refuses is refused with
// the field at fault. The inputs are a corpus of edge cases plus random
// awkward entries, whose acceptance must match PostgreSQL's own verdict on
// the body: the decoder refuses exactly what PostgreSQL cannot store.
func TestAcceptedEntriesAreStoredUnchanged(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("EVENTLINE_PROPERTY_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("random entries from seed %d (EVENTLINE_PROPERTY_SEED=%d to repeat)", seed, seed)
	g := &entryGen{rnd: rand.New(rand.NewPCG(seed, 0x5eed))}

	st, _ := testenv.Store(t)
	pool := testenv.Pool(t, testenv.Postgres(t))
	ctx := context.Background()
	now := time.Now()

	type sent struct {
		body  string
		entry logs.Entry
	}
	var accepted []sent
	var refused int
	// Disagreements with PostgreSQL's verdict, asserted after projecting.
	var acceptedButRefusedByPG, refusedButStorable []string
	check := func(body string, ownRule bool) {
		t.Helper()
		e, fe := logs.DecodeSingle([]byte(body), now)
		pgOK := postgresAccepts(t, pool, body)
		if fe != nil {
			refused++
			require.NotEmpty(t, fe.Field, "a refusal names the field: %s\nbody: %.300q", fe.Error(), body)
			if pgOK && !ownRule {
				refusedButStorable = append(refusedButStorable, fmt.Sprintf("%s: %.300q", fe.Error(), body))
			}
			return
		}
		if !pgOK {
			acceptedButRefusedByPG = append(acceptedButRefusedByPG, fmt.Sprintf("%.300q", body))
		}
		accepted = append(accepted, sent{body: body, entry: e})
	}
	for _, s := range acceptSeeds {
		check(s.body, s.ownRule)
	}
	// Numbers around each of numeric's limits, in several spellings.
	for _, m := range []string{"1", "9", "0", "-0", "10", "-0.1", "0.001", "12345.6789", "1.5", "0.0", "100.00"} {
		for _, base := range []int64{131071, -16383, 1073741822, -1073741822} {
			for d := int64(-5); d <= 5; d++ {
				check(fmt.Sprintf(`{"message":"m","context":{"n":%se%d}}`, m, base+d), false)
			}
		}
	}
	for range 1500 {
		check(g.body(), false)
	}
	// Arrays: all or nothing, and a refusal names the index and field.
	for range 100 {
		bodies := make([]string, 1+g.rnd.IntN(8))
		for i := range bodies {
			bodies[i] = g.body()
		}
		entries, fe := logs.DecodeArray([]byte("["+strings.Join(bodies, ",")+"]"), now)
		firstBad := -1
		for i, b := range bodies {
			if _, fe := logs.DecodeSingle([]byte(b), now); fe != nil {
				firstBad = i
				break
			}
		}
		if firstBad >= 0 {
			require.NotNil(t, fe)
			require.Equal(t, firstBad, fe.Index)
			require.NotEmpty(t, fe.Field)
			continue
		}
		require.Nil(t, fe)
		require.Len(t, entries, len(bodies))
		for i, e := range entries {
			accepted = append(accepted, sent{body: bodies[i], entry: e})
		}
	}
	t.Logf("%d entries accepted, %d refused", len(accepted), refused)
	require.NotEmpty(t, accepted)
	require.Positive(t, refused)

	// Project them as the server would: entries grouped into events.
	for start := 0; start < len(accepted); {
		n := min(1+g.rnd.IntN(40), len(accepted)-start)
		var encoded [][]byte
		for _, s := range accepted[start : start+n] {
			b, err := logs.EncodeEntry(s.entry)
			require.NoError(t, err)
			encoded = append(encoded, b)
		}
		env := eventstore.Envelope{ID: uuid.Must(uuid.NewV7()), Type: logs.EntriesReceivedV1, OccurredAt: now, Data: logs.AppendPayload(nil, encoded)}
		_, err := st.Append(ctx, logs.Subject, eventstore.NoExpectation, env, eventstore.WithCount(n))
		require.NoError(t, err)
		start += n
	}
	last, err := st.LastSeq(ctx, logs.Stream)
	require.NoError(t, err)
	startRunner(t, st, pool, projections.Config{BatchWait: 5 * time.Millisecond})
	require.Eventually(t, func() bool {
		cp, err := projections.LoadCheckpoint(ctx, pool, logentries.Name)
		return err == nil && cp.LastSeq >= last
	}, 60*time.Second, 20*time.Millisecond)
	parked, err := projections.CountParked(ctx, pool, logentries.Name)
	require.NoError(t, err)
	require.Zero(t, parked, "an accepted entry was parked")
	var rows int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM log_entries`).Scan(&rows))
	require.Equal(t, len(accepted), rows)

	for _, s := range accepted {
		requireStoredAsSent(t, pool, s.entry.ID, s.body)
	}
	require.Empty(t, acceptedButRefusedByPG, "accepted what PostgreSQL refuses (so stored only rewritten)")
	require.Empty(t, refusedButStorable, "refused what PostgreSQL stores")
}

// postgresAccepts reports whether PostgreSQL can hold body: as jsonb (which
// is stricter than text: it also refuses \u0000 and unpaired surrogates).
func postgresAccepts(t *testing.T, pool *pgxpool.Pool, body string) bool {
	t.Helper()
	var ok bool
	err := pool.QueryRow(context.Background(), `SELECT $1::text::jsonb IS NOT NULL`, body).Scan(&ok)
	return err == nil && ok
}

// sentEntry is an entry as the client sent it, decoded by encoding/json;
// exact for anything PostgreSQL accepts (encoding/json only rewrites what
// PostgreSQL refuses).
type sentEntry struct {
	Level   *string         `json:"level"`
	Message string          `json:"message"`
	Source  string          `json:"source"`
	Context json.RawMessage `json:"context"`
}

func requireStoredAsSent(t *testing.T, pool *pgxpool.Pool, id uuid.UUID, body string) {
	t.Helper()
	var want sentEntry
	require.NoError(t, json.Unmarshal([]byte(body), &want))
	level := "info"
	if want.Level != nil && *want.Level != "" {
		level = strings.ToLower(*want.Level)
	}
	wantCtx := bytes.TrimSpace(want.Context)
	if bytes.Equal(wantCtx, []byte("null")) {
		wantCtx = nil
	}
	var gotLevel, gotMessage, gotSource string
	var gotCtx *string
	var sameCtx bool
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT level, message, source, context::text, context IS NOT DISTINCT FROM $2::text::jsonb FROM log_entries WHERE id = $1`,
		id, nullable(wantCtx)).Scan(&gotLevel, &gotMessage, &gotSource, &gotCtx, &sameCtx))
	require.Equal(t, level, gotLevel, "body: %.300q", body)
	require.Equal(t, want.Message, gotMessage, "body: %.300q", body)
	require.Equal(t, want.Source, gotSource, "body: %.300q", body)
	require.True(t, sameCtx, "context differs from what was sent\nbody: %.300q", body)
	if wantCtx == nil {
		require.Nil(t, gotCtx)
		return
	}
	require.NotNil(t, gotCtx)
	// The same, judged outside PostgreSQL: equal JSON, numbers equal in value.
	require.Equal(t, canonJSON(t, wantCtx), canonJSON(t, []byte(*gotCtx)), "body: %.300q", body)
}

func nullable(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// canonJSON renders a JSON value canonically: keys sorted with the last
// duplicate winning (as jsonb keeps it), numbers as exact decimals.
func canonJSON(t *testing.T, data []byte) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v))
	var sb strings.Builder
	writeCanon(&sb, v)
	return sb.String()
}

func writeCanon(sb *strings.Builder, v any) {
	switch v := v.(type) {
	case json.Number:
		sb.WriteString(canonNumber(string(v)))
	case []any:
		sb.WriteString("[")
		for i, x := range v {
			if i > 0 {
				sb.WriteString(",")
			}
			writeCanon(sb, x)
		}
		sb.WriteString("]")
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		sb.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				sb.WriteString(",")
			}
			sb.WriteString(strconv.Quote(k) + ":")
			writeCanon(sb, v[k])
		}
		sb.WriteString("}")
	default:
		b, _ := json.Marshal(v)
		sb.Write(b)
	}
}

// canonNumber writes a JSON number as sign, significant digits and
// exponent (-0 is 0): equal values, equal strings.
func canonNumber(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	exp := int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.ParseInt(strings.TrimPrefix(s[i+1:], "+"), 10, 64)
		if err != nil {
			return "bad:" + s
		}
		exp, s = e, s[:i]
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		exp -= int64(len(s) - i - 1)
		s = s[:i] + s[i+1:]
	}
	s = strings.TrimLeft(s, "0")
	for strings.HasSuffix(s, "0") {
		s = s[:len(s)-1]
		exp++
	}
	if s == "" {
		return "0"
	}
	if neg {
		s = "-" + s
	}
	return s + "e" + strconv.FormatInt(exp, 10)
}

// entryGen makes random, awkward, syntactically valid entries whose only
// possible faults are what PostgreSQL cannot store: level, message and
// source are always within our own rules, the context is an object within
// our size and depth limits.
type entryGen struct {
	rnd *rand.Rand
	// deep makes the current context nest down to MaxContextDepth.
	deep bool
}

func (g *entryGen) pick(n int) int { return g.rnd.IntN(n) }

// chance is true with probability 1/n.
func (g *entryGen) chance(n int) bool { return g.rnd.IntN(n) == 0 }

func (g *entryGen) ws() string {
	if !g.chance(6) {
		return ""
	}
	return []string{" ", "\n", "\t", "\r\n", "  "}[g.pick(5)]
}

func (g *entryGen) body() string {
	for {
		// Keep well within MaxContextBytes: size is our rule, not PostgreSQL's.
		if b := g.tryBody(); len(b) < 400<<10 {
			return b
		}
	}
}

func (g *entryGen) tryBody() string {
	g.deep = g.chance(30)
	var fields []string
	if !g.chance(4) {
		lv := logs.Levels[g.pick(len(logs.Levels))]
		if g.chance(3) {
			lv = strings.ToUpper(lv)
		}
		fields = append(fields, `"level":`+g.ws()+`"`+lv+`"`)
	}
	fields = append(fields, `"message":`+g.ws()+g.str(1+g.pick(12)))
	if g.chance(2) {
		fields = append(fields, `"source":`+g.ws()+g.str(g.pick(8)))
	}
	switch g.pick(6) {
	case 0:
	case 1:
		fields = append(fields, `"context":null`)
	default:
		fields = append(fields, `"context":`+g.ws()+g.object(1+g.pick(4), 1))
	}
	g.rnd.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
	return "{" + g.ws() + strings.Join(fields, ","+g.ws()) + g.ws() + "}"
}

// goodPieces decode to at most 12 bytes of valid text each.
var goodPieces = []string{
	"a", "Z", "0", " ", "tab", "<&>", `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`,
	`\u00e9`, `\u2028`, `\uFFFD`, `\uffff`, `\u0001`, `\u001f`, `\ud83d\ude00`, `\uD800\uDC00`, `\udbff\udfff`,
	`\\u0000`, `\\ud800`, `\\\\`, `\\\"`, "é", "😀", "\xef\xbf\xbd", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", "\u007f", "\u0085",
}

// badPieces are what PostgreSQL refuses in text or jsonb.
var badPieces = []string{
	`\u0000`, `\ud800`, `\udfff`, `\ud800\u0041`, `\ud83d\ud83d`, `\udc00\ud800`, `\uDBFFx`,
	"\xff", "\xc3", "\xe2\x82", "\xed\xa0\x80", "\xc0\x80", "\xf8\x88\x80\x80\x80",
}

// str is a JSON string token of n pieces; one in 12 strings holds a bad one.
func (g *entryGen) str(n int) string {
	var sb strings.Builder
	sb.WriteByte('"')
	bad := g.chance(12)
	at := g.pick(n + 1)
	for i := 0; i <= n; i++ {
		if bad && i == at {
			sb.WriteString(badPieces[g.pick(len(badPieces))])
		}
		if i < n {
			sb.WriteString(goodPieces[g.pick(len(goodPieces))])
		}
	}
	sb.WriteByte('"')
	s := sb.String()
	if s == `""` {
		return `"x"`
	}
	return s
}

func (g *entryGen) key() string {
	switch g.pick(10) {
	case 0:
		return `""`
	case 1, 2, 3:
		return `"` + []string{"a", "b", "id", "user", "n"}[g.pick(5)] + `"`
	}
	return g.str(g.pick(4))
}

func (g *entryGen) object(members, depth int) string {
	parts := make([]string, members)
	for i := range parts {
		parts[i] = g.ws() + g.key() + g.ws() + ":" + g.ws() + g.value(depth+1) + g.ws()
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func (g *entryGen) value(depth int) string {
	limit := 6
	if g.deep {
		limit = logs.MaxContextDepth
	}
	k := g.pick(10)
	switch {
	case depth >= limit:
		k = g.pick(6)
	case g.deep && !g.chance(20):
		k = 6 + g.pick(4)
	}
	switch k {
	case 0, 1:
		return g.str(g.pick(6))
	case 2, 3:
		return g.number()
	case 4:
		return []string{"true", "false", "null"}[g.pick(3)]
	case 5:
		return `"` + []string{"x", "", "ok"}[g.pick(3)] + `"`
	case 6, 7:
		n := g.pick(4)
		if g.deep {
			n = 1
		}
		return g.object(n, depth)
	}
	n := g.pick(4)
	if g.deep {
		n = 1
	}
	parts := make([]string, n)
	for i := range parts {
		parts[i] = g.ws() + g.value(depth+1) + g.ws()
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// number is a JSON number, often near numeric's limits.
func (g *entryGen) number() string {
	var sb strings.Builder
	if g.chance(3) {
		sb.WriteByte('-')
	}
	digits := func(n int) {
		for range n {
			sb.WriteByte(byte('0' + g.pick(10)))
		}
	}
	intDigits := 1 + g.pick(6)
	if g.chance(100) {
		intDigits = 131070 + g.pick(4)
	}
	if g.chance(3) {
		sb.WriteByte('0')
	} else {
		sb.WriteByte(byte('1' + g.pick(9)))
		digits(intDigits - 1)
	}
	if g.chance(2) {
		sb.WriteByte('.')
		n := 1 + g.pick(8)
		if g.chance(40) {
			n = 16381 + g.pick(4)
		}
		digits(n)
	}
	if g.chance(2) {
		sb.WriteString([]string{"e", "E", "e+", "E-", "e-"}[g.pick(5)])
		exps := []int64{0, 1, 3, 16383, 16384, 131065 + int64(g.pick(10)), 999999, 1073741822, 1073741823, int64(g.pick(20000))}
		sb.WriteString(fmt.Sprint(exps[g.pick(len(exps))]))
	}
	return sb.String()
}
