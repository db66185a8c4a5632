package projections

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"github.com/eventline/eventline/eventstore"
)

// ItemProjection is a Projection whose events carry independent items, each
// inserted on its own: the entries of a grouped log event, which come from
// several clients' requests. When such an event fails for good, the runtime
// applies its items apart and parks only those that fail, keyed by the
// event's sequence and the item's id; the other items land.
type ItemProjection interface {
	Projection
	// ApplyItems writes the items of ev inside tx, apart from each other,
	// and returns the rows it inserted and the items that failed for good.
	// When ids is not nil, only the items it names are applied. An error is
	// about the event as a whole: transient, or (Permanent) an event whose
	// items cannot be told apart. tx is usable after it returns.
	ApplyItems(ctx context.Context, tx pgx.Tx, ev Event, ids []string) (int64, []ItemFailure, error)
}

// ItemFailure is one item an ItemProjection could not apply.
type ItemFailure struct {
	// ID identifies the item within its event (a log entry's id).
	ID string
	// Data is the item as the projection read it, kept with the parked record.
	Data []byte
	// Err is why it failed.
	Err error
}

// applyIsolated applies events inside tx, each group in a savepoint. When a
// group fails for good it is split in halves, down to single events, so that
// k bad events among n cost about k·log2(n) attempts instead of n; a single
// event that fails is parked, or only its failing items when the projection
// is an ItemProjection. failed says that events were already tried together
// and failed, so a group of several is split at once.
func applyIsolated(ctx context.Context, tx pgx.Tx, p Projection, events []Event, failed bool) (int64, []parkRecord, error) {
	if len(events) == 0 {
		return 0, nil, nil
	}
	if !failed || len(events) == 1 {
		n, err := applySavepoint(ctx, tx, p, events)
		if err == nil {
			return n, nil, nil
		}
		if !IsPermanent(err) {
			return 0, nil, err
		}
		if len(events) == 1 {
			return applyItems(ctx, tx, p, events[0], err)
		}
	}
	mid := len(events) / 2
	left, lp, err := applyIsolated(ctx, tx, p, events[:mid], false)
	if err != nil {
		return 0, nil, err
	}
	right, rp, err := applyIsolated(ctx, tx, p, events[mid:], false)
	if err != nil {
		return 0, nil, err
	}
	return left + right, append(lp, rp...), nil
}

// applyItems handles one event that failed for good with err: an
// ItemProjection applies its items apart and only the failing ones are
// parked; otherwise (or when its items cannot be told apart) the whole
// event is.
func applyItems(ctx context.Context, tx pgx.Tx, p Projection, ev Event, err error) (int64, []parkRecord, error) {
	if ip, ok := p.(ItemProjection); ok {
		n, bad, ierr := ip.ApplyItems(ctx, tx, ev, nil)
		if ierr == nil {
			return n, itemRecords(ev, bad), nil
		}
		if !IsPermanent(ierr) {
			return 0, nil, ierr
		}
		err = ierr
	}
	return 0, []parkRecord{eventRecord(ev, err)}, nil
}

// eventRecord parks ev as a whole.
func eventRecord(ev Event, err error) parkRecord {
	data, _ := ev.Envelope.Marshal()
	return parkRecord{seq: ev.Seq, subject: ev.Subject, typ: ev.Envelope.Type, items: itemCount(ev.Header),
		reason: err.Error(), data: data}
}

// itemRecords parks the failed items of ev.
func itemRecords(ev Event, bad []ItemFailure) []parkRecord {
	recs := make([]parkRecord, 0, len(bad))
	for _, f := range bad {
		recs = append(recs, parkRecord{seq: ev.Seq, subject: ev.Subject, typ: ev.Envelope.Type, item: f.ID, items: 1,
			reason: f.Err.Error(), data: f.Data})
	}
	return recs
}

// itemCount is how many items a message holds, from its Eventline-Count
// header (1 when it has none).
func itemCount(h nats.Header) int64 {
	if h == nil {
		return 1
	}
	n, err := strconv.ParseInt(h.Get(eventstore.HeaderCount), 10, 64)
	if err != nil || n < 1 {
		return 1
	}
	return n
}
