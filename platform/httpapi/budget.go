package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// ErrOverloaded is answered when a request would take the process over one
// of its budgets (bytes in flight, concurrent lookups): 503 with
// Retry-After, nothing done.
var ErrOverloaded = errors.New("overloaded")

// overloaded is ErrOverloaded in the contract's shape.
func overloaded() *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: "overloaded",
		Message: "Too much is in flight right now; nothing was stored. Retry shortly.", RetryAfter: 1}
}

// Budget is a process-wide count of bytes that requests hold in memory
// while they are handled. Reservations never wait: a request that does not
// fit is refused at once, so a crowd of large requests costs a bounded
// amount of memory instead of piling up.
type Budget struct {
	mu    sync.Mutex
	total int64
	used  int64
}

// NewBudget returns a budget of total bytes.
func NewBudget(total int64) *Budget { return &Budget{total: total} }

// Reserve takes n bytes from the budget, or fails with ErrOverloaded when
// they are not all free. A single reservation larger than the whole budget
// is allowed when nothing else is reserved, so that the largest request the
// API accepts can always get through eventually.
func (b *Budget) Reserve(n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.total && b.used > 0 {
		return ErrOverloaded
	}
	b.used += n
	return nil
}

// Release gives n bytes back.
func (b *Budget) Release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.used < 0 {
		panic(fmt.Sprintf("httpapi: budget released more than reserved (%d)", b.used))
	}
}

// InUse returns the bytes reserved now.
func (b *Budget) InUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Total returns the budget's size.
func (b *Budget) Total() int64 { return b.total }

// readChunk is how much of a body without Content-Length is reserved and
// read at a time.
const readChunk = 1 << 20

// Body is a request body read within a Budget. Release it once the request
// is answered.
type Body struct {
	Data     []byte
	budget   *Budget
	reserved int64
}

// Release returns the body's reservation to its budget; it may be called
// more than once.
func (b *Body) Release() {
	if b.budget != nil && b.reserved > 0 {
		b.budget.Release(b.reserved)
		b.reserved = 0
	}
}

// ReadBodyWithin reads the whole body, refusing more than limit bytes with
// 413, and reserves factor bytes of budget for every body byte before
// reading it: all at once by Content-Length when the client sent one, else
// chunk by chunk as the body arrives. A request over the budget gets
// ErrOverloaded (503) and its body is not read.
func ReadBodyWithin(w http.ResponseWriter, r *http.Request, limit int64, budget *Budget, factor int64) (*Body, error) {
	out := &Body{budget: budget}
	reserve := func(n int64) error {
		if err := budget.Reserve(n * factor); err != nil {
			out.Release()
			return err
		}
		out.reserved += n * factor
		return nil
	}
	tooLarge := &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
		Message: fmt.Sprintf("The request body exceeds %d bytes.", limit)}
	unreadable := &Error{Status: http.StatusBadRequest, Code: "unreadable_body", Message: "The request body could not be read."}
	body := http.MaxBytesReader(w, r.Body, limit)
	if n := r.ContentLength; n >= 0 {
		if n > limit {
			return nil, tooLarge
		}
		if err := reserve(n); err != nil {
			return nil, err
		}
		out.Data = make([]byte, n)
		if _, err := io.ReadFull(body, out.Data); err != nil {
			out.Release()
			return nil, unreadable
		}
		return out, nil
	}
	var chunks [][]byte
	var size int64
	for {
		if err := reserve(readChunk); err != nil {
			return nil, err
		}
		chunk := make([]byte, readChunk)
		n, err := io.ReadFull(body, chunk)
		chunks = append(chunks, chunk[:n])
		size += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			out.Release()
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooLarge
			}
			return nil, unreadable
		}
	}
	out.Data = make([]byte, 0, size)
	for _, c := range chunks {
		out.Data = append(out.Data, c...)
	}
	return out, nil
}
