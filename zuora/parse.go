package zuora

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// isoLayouts and spaceLayouts are the forms Zuora uses for times: ISO-8601
// with or without a zone, and "YYYY-MM-DD HH:MM:SS" (optionally zoned). A
// fraction of a second after the seconds is accepted by every layout; times
// without a zone are UTC. The separator after the date picks the list, so
// the common forms parse on the first try.
var (
	isoLayouts = []string{
		time.RFC3339,
		"2006-01-02T15:04:05Z0700",
		"2006-01-02T15:04:05",
		"2006-01-02T15:04Z07:00",
		"2006-01-02T15:04",
	}
	spaceLayouts = []string{
		time.DateTime,
		"2006-01-02 15:04:05Z07:00",
		"2006-01-02 15:04:05Z0700",
	}
)

// parseTimestamp parses a Zuora timestamp into UTC; an empty string is the
// zero time.
func parseTimestamp(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	layouts := isoLayouts
	if len(s) > 10 && s[10] == ' ' {
		layouts = spaceLayouts
	}
	for _, layout := range layouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q: want ISO-8601 or YYYY-MM-DD HH:MM:SS", cut(s))
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date
// (a date in the past means now). ok is false when the header is absent or
// unreadable.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
