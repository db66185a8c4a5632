package logsapi

import (
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// HeaderEntryTimes is set on every log event the ingester appends: the
// range of the time stamps (Unix milliseconds) of the UUIDv7 ids of the
// entries it holds, as "min-max". A lookup reads only headers and fetches
// just the events whose range holds the id it looks for.
const HeaderEntryTimes = "Eventline-Entry-Times"

// clockSlack allows for clocks that disagree a little: the id's maker (an
// API process) and the log's (the NATS server), or a client's "now".
const clockSlack = 2 * time.Second

// msRange is a range of id times in Unix milliseconds.
type msRange struct {
	min, max int64
	set      bool
}

// idMillis returns the time of a UUIDv7 id in Unix milliseconds.
func idMillis(id uuid.UUID) (int64, bool) {
	if id.Version() != 7 {
		return 0, false
	}
	ms := int64(id[0])<<40 | int64(id[1])<<32 | int64(id[2])<<24 | int64(id[3])<<16 | int64(id[4])<<8 | int64(id[5])
	return ms, true
}

func (r *msRange) add(id uuid.UUID) {
	if ms, ok := idMillis(id); ok {
		r.merge(msRange{min: ms, max: ms, set: true})
	}
}

func (r *msRange) merge(o msRange) {
	if !o.set {
		return
	}
	if !r.set {
		*r = o
		return
	}
	r.min, r.max = min(r.min, o.min), max(r.max, o.max)
}

// String is the header value: "min-max".
func (r msRange) String() string {
	return strconv.FormatInt(r.min, 10) + "-" + strconv.FormatInt(r.max, 10)
}

// parseMsRange reads a HeaderEntryTimes value.
func parseMsRange(s string) (msRange, bool) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return msRange{}, false
	}
	lo, err1 := strconv.ParseInt(a, 10, 64)
	hi, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || lo > hi {
		return msRange{}, false
	}
	return msRange{min: lo, max: hi, set: true}, true
}

func (r msRange) holds(ms int64) bool { return r.set && r.min <= ms && ms <= r.max }
