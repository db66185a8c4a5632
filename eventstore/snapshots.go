package eventstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// SnapshotBucket is the JetStream object store bucket that holds the
// stored snapshots of aggregates.
const SnapshotBucket = "SNAPSHOTS"

// MaxSnapshotBytes is the default bound of one stored snapshot: a state
// that writes more is not stored (its aggregate is folded from its events,
// as without snapshots).
const MaxSnapshotBytes = 256 << 20

// Errors of Snapshots.Get. Either way the caller folds the aggregate from
// its first event.
var (
	// ErrNoSnapshot reports that no snapshot of the subject is stored.
	ErrNoSnapshot = errors.New("eventstore: no snapshot stored")
	// ErrStaleSnapshot reports a snapshot that does not belong to the log
	// as it is now: the event it was taken after is not at its sequence
	// (the stream was wiped and refilled, or restored from elsewhere).
	ErrStaleSnapshot = errors.New("eventstore: snapshot does not match the stream")
	// ErrSnapshotTooLarge reports a snapshot larger than its bound
	// (Snapshots.MaxBytes).
	ErrSnapshotTooLarge = errors.New("eventstore: snapshot too large")
)

// SnapshotInfo describes a stored snapshot: the state of the aggregate on
// Subject of Stream folded from its events up to stream sequence Seq, whose
// event there has id EventID. Version is the format of the state, the
// aggregate's to check.
type SnapshotInfo struct {
	Stream  string
	Subject string
	Seq     uint64
	EventID string
	Version string
	// Size is the snapshot's size in bytes (set by Get).
	Size uint64
}

// Snapshots stores snapshots of aggregates' folded states in the object
// store bucket SnapshotBucket, one per subject, the newest replacing the
// one before. A snapshot is a cache: it can be lost or wiped at any time,
// and the aggregate is then folded from its events again.
type Snapshots struct {
	// MaxBytes bounds one snapshot (MaxSnapshotBytes when 0).
	MaxBytes int64
	// AbandonedAfter is how old the chunks of a snapshot that was never
	// completed must be for Sweep to purge them (SnapshotPutMax when 0).
	AbandonedAfter time.Duration

	store        *Store
	mu           sync.Mutex
	obs          jetstream.ObjectStore
	missingUntil time.Time
	sweepOnce    sync.Once
}

// missingFor is how long a bucket found missing is taken as missing by
// reads.
const missingFor = 5 * time.Second

// SnapshotPutMax bounds the storing of one snapshot.
const SnapshotPutMax = 2 * time.Minute

// NewSnapshots returns the snapshot store of store. The bucket is created
// when the first snapshot is stored; reading creates nothing.
func NewSnapshots(store *Store) *Snapshots { return &Snapshots{store: store} }

// bucket returns the object store; with create, it is created (or
// updated) when missing, else a missing bucket is ErrNoSnapshot: reading
// creates nothing on the server.
func (s *Snapshots) bucket(ctx context.Context, create bool) (jetstream.ObjectStore, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.obs != nil {
		return s.obs, nil
	}
	var obs jetstream.ObjectStore
	var err error
	if create {
		// Like the streams: as many replicas as configured, raised on an
		// existing bucket, never lowered.
		if err := CheckReplicas(ctx, s.store.js, "OBJ_"+SnapshotBucket, s.store.replicas); err != nil {
			return nil, fmt.Errorf("snapshot bucket: %w", err)
		}
		obs, err = s.store.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      SnapshotBucket,
			Description: "Snapshots of aggregates' folded state (a cache: the event streams are the record)",
			Storage:     jetstream.FileStorage,
			Replicas:    s.store.replicas,
		})
	} else {
		// Until a first snapshot is stored, every cold load asks: the
		// answer "no bucket" is kept a few seconds.
		if time.Now().Before(s.missingUntil) {
			return nil, ErrNoSnapshot
		}
		obs, err = s.store.js.ObjectStore(ctx, SnapshotBucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			s.missingUntil = time.Now().Add(missingFor)
			return nil, ErrNoSnapshot
		}
	}
	if err != nil {
		return nil, classify("snapshot bucket", err)
	}
	s.obs = obs
	s.sweepOnce.Do(func() {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, _ = s.Sweep(ctx)
		}()
	})
	return obs, nil
}

// Sweep purges the chunks of snapshots that were never completed: a
// process killed while it stored one leaves chunks no snapshot refers to.
// Chunks written in the last SnapshotPutMax may belong to a snapshot being
// stored and are left alone. It runs once in the background when a process
// first uses the bucket; it returns how many snapshots' chunks it purged.
func (s *Snapshots) Sweep(ctx context.Context) (int, error) {
	obs, err := s.bucket(ctx, false)
	if errors.Is(err, ErrNoSnapshot) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	live := map[string]bool{}
	objects, err := obs.List(ctx, jetstream.ListObjectsShowDeleted())
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0, classify("list snapshots", err)
	}
	for _, o := range objects {
		if !o.Deleted {
			live[o.NUID] = true
		}
	}
	st, err := s.store.js.Stream(ctx, "OBJ_"+SnapshotBucket)
	if err != nil {
		return 0, classify("snapshot bucket", err)
	}
	prefix := "$O." + SnapshotBucket + ".C."
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return 0, classify("snapshot bucket", err)
	}
	purged := 0
	for subject := range info.State.Subjects {
		if live[strings.TrimPrefix(subject, prefix)] {
			continue
		}
		last, err := st.GetLastMsgForSubject(ctx, subject)
		if err != nil || time.Since(last.Time) < cmp.Or(s.AbandonedAfter, SnapshotPutMax) {
			continue
		}
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
			return purged, classify("purge abandoned snapshot chunks", err)
		}
		purged++
	}
	return purged, nil
}

// forget drops the bucket's handle after a failure: the bucket may be gone
// (deleted by an operator, a wiped server), and the next use creates it
// again. Errors are rare; the next use pays one more round trip.
func (s *Snapshots) forget() {
	s.mu.Lock()
	s.obs = nil
	s.mu.Unlock()
}

func snapshotName(stream, subject string) string { return stream + ":" + subject }

// Metadata keys of a stored snapshot.
const (
	snapshotSeq     = "seq"
	snapshotEventID = "event-id"
	snapshotVersion = "version"
)

// Put stores what write writes as the snapshot info describes, replacing
// the subject's previous one. write streams the state: it is never held
// whole in memory here. A snapshot larger than MaxSnapshotBytes is not
// stored (ErrSnapshotTooLarge), and the previous one stays. Put returns
// only once write has: whatever write touched is the caller's again.
func (s *Snapshots) Put(ctx context.Context, info SnapshotInfo, write func(io.Writer) error) error {
	ctx, cancel := context.WithTimeout(ctx, SnapshotPutMax)
	defer cancel()
	obs, err := s.bucket(ctx, true)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		w := &limitWriter{w: pw, left: cmp.Or(s.MaxBytes, MaxSnapshotBytes)}
		pw.CloseWithError(write(w))
	}()
	_, err = obs.Put(ctx, jetstream.ObjectMeta{
		Name: snapshotName(info.Stream, info.Subject),
		Metadata: map[string]string{
			snapshotSeq:     strconv.FormatUint(info.Seq, 10),
			snapshotEventID: info.EventID,
			snapshotVersion: info.Version,
		},
	}, pr)
	// The writer may still be blocked on a pipe Put stopped reading: its
	// writes fail from now on, and Put returns once write has (a caller
	// may read what write touched, the bytes it counted say).
	_ = pr.CloseWithError(errors.New("snapshot put ended"))
	<-wrote
	if err != nil {
		if errors.Is(err, ErrSnapshotTooLarge) {
			return fmt.Errorf("snapshot of %s: %w", info.Subject, ErrSnapshotTooLarge)
		}
		s.forget()
		return classify("snapshot of "+info.Subject, err)
	}
	return nil
}

// Get passes the stored snapshot of subject of stream to read, once it
// checked that the event it was taken after is still at its sequence. It
// returns ErrNoSnapshot or ErrStaleSnapshot when there is none to use, and
// read's error unchanged.
func (s *Snapshots) Get(ctx context.Context, stream, subject string, read func(SnapshotInfo, io.Reader) error) error {
	obs, err := s.bucket(ctx, false)
	if err != nil {
		return err
	}
	res, err := obs.Get(ctx, snapshotName(stream, subject))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return ErrNoSnapshot
	}
	if err != nil {
		s.forget()
		return classify("snapshot of "+subject, err)
	}
	defer res.Close()
	meta, err := res.Info()
	if err != nil {
		return classify("snapshot of "+subject, err)
	}
	info := SnapshotInfo{Stream: stream, Subject: subject, EventID: meta.Metadata[snapshotEventID],
		Version: meta.Metadata[snapshotVersion], Size: meta.Size}
	if info.Seq, err = strconv.ParseUint(meta.Metadata[snapshotSeq], 10, 64); err != nil || info.Seq == 0 || info.EventID == "" {
		return fmt.Errorf("snapshot of %s: %w: unreadable metadata", subject, ErrStaleSnapshot)
	}
	m, err := s.store.Get(ctx, stream, info.Seq)
	switch {
	case errors.Is(err, ErrNotFound):
		return fmt.Errorf("snapshot of %s: %w: no event #%d", subject, ErrStaleSnapshot, info.Seq)
	case err != nil:
		return err
	case m.Subject != subject || m.Header.Get(jetstream.MsgIDHeader) != info.EventID:
		return fmt.Errorf("snapshot of %s: %w: event #%d is another one", subject, ErrStaleSnapshot, info.Seq)
	}
	return read(info, res)
}

// Delete removes the stored snapshot of subject of stream, if any.
func (s *Snapshots) Delete(ctx context.Context, stream, subject string) error {
	obs, err := s.bucket(ctx, false)
	if errors.Is(err, ErrNoSnapshot) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := obs.Delete(ctx, snapshotName(stream, subject)); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return classify("snapshot of "+subject, err)
	}
	return nil
}

// limitWriter fails with ErrSnapshotTooLarge past left bytes.
type limitWriter struct {
	w    io.Writer
	left int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		return 0, ErrSnapshotTooLarge
	}
	l.left -= int64(len(p))
	return l.w.Write(p)
}
