package zuora

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseTimestamp(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"2026-03-01T10:20:30Z", utc(2026, 3, 1, 10, 20, 30, 0), false},
		{"2026-03-01T10:20:30.123Z", utc(2026, 3, 1, 10, 20, 30, 123e6), false},
		{"2026-03-01T12:20:30+02:00", utc(2026, 3, 1, 10, 20, 30, 0), false},
		{"2026-03-01T12:20:30.5+0200", utc(2026, 3, 1, 10, 20, 30, 5e8), false},
		{"2026-03-01T02:20:30-0800", utc(2026, 3, 1, 10, 20, 30, 0), false},
		{"2026-03-01T10:20:30", utc(2026, 3, 1, 10, 20, 30, 0), false},
		{"2026-03-01T10:20:30.000001", utc(2026, 3, 1, 10, 20, 30, 1000), false},
		{"2026-03-01 10:20:30", utc(2026, 3, 1, 10, 20, 30, 0), false},
		{"2026-03-01 10:20:30.250", utc(2026, 3, 1, 10, 20, 30, 25e7), false},
		{"2026-03-01 12:20:30+02:00", utc(2026, 3, 1, 10, 20, 30, 0), false},
		{"2026-03-01T10:20Z", utc(2026, 3, 1, 10, 20, 0, 0), false},
		{"  2026-03-01 10:20:30 ", utc(2026, 3, 1, 10, 20, 30, 0), false},
		{"", time.Time{}, false},
		{"2026-03-01", time.Time{}, true},
		{"01/03/2026 10:20:30", time.Time{}, true},
		{"2026-13-01T10:20:30Z", time.Time{}, true},
		{"2026-02-30 10:20:30", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"1700000000", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseTimestamp(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.True(t, tt.want.Equal(got), "got %s want %s", got, tt.want)
			require.Equal(t, time.UTC, got.Location())
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"seconds", "1", time.Second, true},
		{"zero", "0", 0, true},
		{"spaces", " 120 ", 2 * time.Minute, true},
		{"huge seconds capped at a day", "99999999999", 24 * time.Hour, true},
		{"http date in the future", "Sun, 01 Mar 2026 10:00:30 GMT", 30 * time.Second, true},
		{"http date in the past", "Sun, 01 Mar 2026 09:00:00 GMT", 0, true},
		{"rfc850 date", "Sunday, 01-Mar-26 10:01:00 GMT", time.Minute, true},
		{"empty", "", 0, false},
		{"negative", "-5", 0, false},
		{"fraction", "1.5", 0, false},
		{"garbage", "soon", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseRetryAfter(tt.in, now)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestResolveNext(t *testing.T) {
	base, err := url.Parse("https://rest.zuora.test/api")
	require.NoError(t, err)
	current, err := url.Parse("https://rest.zuora.test/api/workflows?page=1&page_length=50")
	require.NoError(t, err)
	tests := []struct {
		name    string
		next    string
		want    string
		wantErr bool
	}{
		{"absolute same host", "https://rest.zuora.test/api/workflows?page=2&page_length=50", "https://rest.zuora.test/api/workflows?page=2&page_length=50", false},
		{"host case differs", "https://REST.zuora.test/api/workflows?page=2", "https://REST.zuora.test/api/workflows?page=2", false},
		{"absolute path", "/api/workflows?page=2", "https://rest.zuora.test/api/workflows?page=2", false},
		{"relative path", "workflows?page=2", "https://rest.zuora.test/api/workflows?page=2", false},
		{"query only", "?page=2&page_length=50", "https://rest.zuora.test/api/workflows?page=2&page_length=50", false},
		{"fragment dropped", "/api/workflows?page=2#x", "https://rest.zuora.test/api/workflows?page=2", false},
		{"other host", "https://evil.test/api/workflows?page=2", "", true},
		{"scheme relative other host", "//evil.test/workflows?page=2", "", true},
		{"downgrade to http", "http://rest.zuora.test/api/workflows?page=2", "", true},
		{"other port", "https://rest.zuora.test:8443/api/workflows?page=2", "", true},
		{"user info", "https://user:pw@rest.zuora.test/api/workflows?page=2", "", true},
		{"unparseable", "https://rest.zuora.test/%zz", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveNext(base, current, tt.next)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrPagination)
				require.NotContains(t, err.Error(), "pw@")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got.String())
		})
	}
}

func TestErrorBody(t *testing.T) {
	tests := []struct {
		name, body, code, msg string
	}{
		{"contract shape", `{"error":{"code":"invalid_token","message":"expired"}}`, "invalid_token", "expired"},
		{"oauth shape", `{"error":"invalid_client","error_description":"bad secret"}`, "invalid_client", "bad secret"},
		{"zuora reasons", `{"success":false,"reasons":[{"code":90000011,"message":"not found"}]}`, "90000011", "not found"},
		{"errors list", `{"errors":[{"code":"rate","title":"slow down"}]}`, "rate", "slow down"},
		{"message only", `{"message":"Authentication error"}`, "", "Authentication error"},
		{"html", "<html>\n<body>Bad Gateway</body></html>", "", "<html> <body>Bad Gateway</body></html>"},
		{"empty", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := errorBody([]byte(tt.body))
			require.Equal(t, tt.code, code)
			require.Equal(t, tt.msg, msg)
		})
	}
}

func TestBackoffStaysWithinBounds(t *testing.T) {
	c := New(Config{BaseURL: "http://x.test", ClientID: "a", ClientSecret: "b",
		Retry: RetryPolicy{FirstDelay: 100 * time.Millisecond, MaxDelay: time.Second}})
	for range 50 {
		delays := c.cfg.Retry.backOff()
		for try := 1; try <= 10; try++ {
			ceiling := min(100*time.Millisecond<<(try-1), time.Second)
			d := delays.NextBackOff()
			require.GreaterOrEqual(t, d, ceiling/2)
			require.LessOrEqual(t, d, ceiling)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{BaseURL: "https://rest.zuora.test", ClientID: "id", ClientSecret: "s3cr3t-value"}
	require.NoError(t, ok.Validate())
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"relative base", func(c *Config) { c.BaseURL = "/api" }, "base url"},
		{"ftp base", func(c *Config) { c.BaseURL = "ftp://x.test" }, "base url"},
		{"query in base", func(c *Config) { c.BaseURL = "https://x.test/?a=1" }, "no query"},
		{"no id", func(c *Config) { c.ClientID = "" }, "client id"},
		{"no secret", func(c *Config) { c.ClientSecret = "" }, "client secret"},
		{"page too long", func(c *Config) { c.PageLength = 51 }, "page length 51"},
		{"negative page", func(c *Config) { c.PageLength = -1 }, "page length -1"},
		{"bad delays", func(c *Config) { c.Retry.FirstDelay = time.Minute; c.Retry.MaxDelay = time.Second }, "retry delays"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			err := c.Validate()
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.Contains(t, err.Error(), tt.want)
			require.NotContains(t, err.Error(), "s3cr3t-value")
		})
	}
	t.Run("every problem at once", func(t *testing.T) {
		err := Config{PageLength: 99}.Validate()
		for _, want := range []string{"base url", "client id", "client secret", "page length"} {
			require.Contains(t, err.Error(), want)
		}
	})
}
