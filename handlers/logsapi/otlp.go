package logsapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/platform/httpapi"
)

// Bounds of one OTLP request.
const (
	// MaxOTLPBody bounds an OTLP request body, before and after gzip.
	MaxOTLPBody = MaxBatchBody
	// MaxOTLPRecords bounds the log records of one OTLP request, as
	// /api/logs/batch bounds its entries.
	MaxOTLPRecords = 10_000
)

// OTLP media types (OTLP/HTTP, binary protobuf and JSON encodings).
const (
	otlpProtobuf = "application/x-protobuf"
	otlpJSON     = "application/json"
)

// postOTLP is OTLP/HTTP's logs endpoint, POST /v1/logs: an
// ExportLogsServiceRequest in protobuf or JSON, gzip or not. It answers 200
// only once JetStream has stored every entry it accepted; records
// PostgreSQL could not store are refused in the answer's partial_success,
// never parked later. Errors are google.rpc.Status messages in the
// request's encoding, with OTLP's status codes (400 and 413 are not
// retried by exporters; 429 and 503 are, after Retry-After).
func (h *Handler) postOTLP(w http.ResponseWriter, r *http.Request) {
	mt, err := otlpMediaType(r)
	if err != nil {
		writeOTLPError(w, r, mt, err)
		return
	}
	gzipped := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		gzipped = true
	default:
		writeOTLPError(w, r, mt, httpapi.Errorf(http.StatusUnsupportedMediaType, "unsupported_encoding",
			fmt.Sprintf("Content-Encoding %q is not accepted; send gzip or nothing.", enc)))
		return
	}
	held, err := h.readBody(w, r, MaxOTLPBody)
	if err != nil {
		writeOTLPError(w, r, mt, err)
		return
	}
	defer held.Release()
	body := held.Data
	if gzipped {
		unzipped, release, err := h.gunzip(held, MaxOTLPBody)
		if err != nil {
			writeOTLPError(w, r, mt, err)
			return
		}
		defer release()
		body = unzipped
	}
	cached, err := h.ingester.cache.reserve(int64(len(body)))
	if err != nil {
		writeOTLPError(w, r, mt, err)
		return
	}
	appended := false
	defer func() { cached.release(appended) }()

	req := plogotlp.NewExportRequest()
	if mt == otlpJSON {
		err = req.UnmarshalJSON(body)
	} else {
		err = req.UnmarshalProto(body)
	}
	if err != nil {
		writeOTLPError(w, r, mt, httpapi.Errorf(http.StatusBadRequest, "invalid_otlp",
			fmt.Sprintf("The body is not an OTLP ExportLogsServiceRequest in %s: %s.", mt, shortReason(err))))
		return
	}
	ld := req.Logs()
	if n := ld.LogRecordCount(); n > MaxOTLPRecords {
		writeOTLPError(w, r, mt, httpapi.Errorf(http.StatusRequestEntityTooLarge, "too_many_records",
			fmt.Sprintf("The request holds %d log records; at most %d are accepted at once.", n, MaxOTLPRecords)))
		return
	}
	batch, err := logs.FromOTLP(ld, h.now())
	if err != nil {
		writeOTLPError(w, r, mt, httpapi.Errorf(http.StatusBadRequest, "invalid_otlp", "The request is not valid OTLP: "+err.Error()+"."))
		return
	}
	var seq uint64
	if len(batch.Entries) > 0 {
		appended = true
		if batch.Timed {
			// Every record has a time: an equal body is an exporter's
			// retry, which the stream's duplicate window drops.
			seq, _, err = h.ingester.SubmitAlone(r.Context(), batch.Entries, otlpDedupeID(mt, body))
		} else {
			seq, err = h.ingester.Submit(r.Context(), batch.Entries)
		}
		if err != nil {
			writeOTLPError(w, r, mt, err)
			return
		}
		w.Header().Set("X-Eventline-Seq", strconv.FormatUint(seq, 10))
	}
	resp := plogotlp.NewExportResponse()
	if batch.Rejected > 0 {
		resp.PartialSuccess().SetRejectedLogRecords(int64(batch.Rejected))
		resp.PartialSuccess().SetErrorMessage(batch.Reason)
	}
	var out []byte
	if mt == otlpJSON {
		out, err = resp.MarshalJSON()
	} else {
		out, err = resp.MarshalProto()
	}
	if err != nil {
		writeOTLPError(w, r, mt, err)
		return
	}
	w.Header().Set("Content-Type", mt)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// otlpDedupeID names a request body for the stream's duplicate window.
func otlpDedupeID(mt string, body []byte) string {
	sum := sha256.New()
	sum.Write([]byte(mt))
	sum.Write([]byte{0})
	sum.Write(body)
	return "otlp-" + hex.EncodeToString(sum.Sum(nil))
}

// gunzip inflates a gzip body, refusing more than limit bytes inflated
// with 413. Its memory is reserved in the ingester's byte budget in one
// go, sized by the inflated length gzip's trailer states (the reservation
// of the compressed body moves to it, counted once): a request the budget
// cannot hold gets 503 before anything is inflated. A trailer that lies is
// caught by gzip's own check at the end, and the inflated bytes never pass
// limit whatever it says. release gives the reservation back once the
// request is answered.
func (h *Handler) gunzip(held *httpapi.Body, limit int64) (out []byte, release func(), err error) {
	data := held.Data
	notGzip := func(err error) error {
		return httpapi.Errorf(http.StatusBadRequest, "invalid_gzip", "The body is not gzip data: "+err.Error()+".")
	}
	tooLarge := httpapi.Errorf(http.StatusRequestEntityTooLarge, "body_too_large",
		fmt.Sprintf("The request body exceeds %d bytes once inflated.", limit))
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, nil, notGzip(err)
	}
	if len(data) < 4 {
		return nil, nil, notGzip(io.ErrUnexpectedEOF)
	}
	size := int64(binary.LittleEndian.Uint32(data[len(data)-4:])) // ISIZE
	if size > limit {
		return nil, nil, tooLarge
	}
	held.Release()
	reserved := int64(len(data)) + size*BodyCostFactor
	if err := h.ingester.budget.Reserve(reserved); err != nil {
		return nil, nil, err
	}
	release = func() { h.ingester.budget.Release(reserved); reserved = 0 }
	buf := make([]byte, 0, size)
	n, err := io.Copy(&sliceWriter{&buf}, io.LimitReader(zr, limit+1))
	switch {
	case n > limit:
		release()
		return nil, nil, tooLarge
	case err != nil:
		release()
		return nil, nil, notGzip(err)
	}
	return buf, release, nil
}

// sliceWriter appends to a byte slice.
type sliceWriter struct{ b *[]byte }

func (s *sliceWriter) Write(p []byte) (int, error) {
	*s.b = append(*s.b, p...)
	return len(p), nil
}

// otlpMediaType is the encoding of an OTLP request (protobuf when it does
// not say), or an error and JSON, in which the error is answered, when it
// is neither.
func otlpMediaType(r *http.Request) (string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return otlpProtobuf, nil
	}
	parsed, _, err := mime.ParseMediaType(ct)
	if err != nil || (parsed != otlpProtobuf && parsed != otlpJSON) {
		return otlpJSON, httpapi.Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Content-Type %q is not accepted; send %s or %s.", ct, otlpProtobuf, otlpJSON))
	}
	return parsed, nil
}

// writeOTLPError answers err as OTLP does: a google.rpc.Status in the
// request's encoding, with the status code (and Retry-After) the contract
// gives the error. A full log is answered 503, which exporters retry,
// rather than 507, which they would not.
func writeOTLPError(w http.ResponseWriter, r *http.Request, mt string, err error) {
	apiErr := httpapi.AsError(err)
	status := apiErr.Status
	if status == http.StatusInsufficientStorage {
		status = http.StatusServiceUnavailable
	}
	if status >= 500 {
		httpapi.WriteErrorLog(r, "otlp request failed", err)
	}
	if apiErr.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(apiErr.RetryAfter))
	}
	st := &spb.Status{Code: grpcCode(status), Message: strings.ToValidUTF8(apiErr.Message, "\uFFFD")}
	var out []byte
	if mt == otlpJSON {
		out, err = protojson.Marshal(st)
	} else {
		out, err = proto.Marshal(st)
	}
	if err != nil {
		mt, out = "text/plain; charset=utf-8", []byte(apiErr.Message)
	}
	w.Header().Set("Content-Type", mt)
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// shortReason is a decoder's error for a client: valid UTF-8 (a parser may
// quote the bytes it choked on) and at most 200 bytes.
func shortReason(err error) string {
	s := strings.ToValidUTF8(err.Error(), "\uFFFD")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

// grpcCode is the google.rpc.Code that goes with an HTTP status.
func grpcCode(status int) int32 {
	switch status {
	case http.StatusBadRequest, http.StatusUnsupportedMediaType:
		return 3 // INVALID_ARGUMENT
	case http.StatusUnauthorized:
		return 16 // UNAUTHENTICATED
	case http.StatusMisdirectedRequest:
		return 7 // PERMISSION_DENIED
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return 8 // RESOURCE_EXHAUSTED
	case http.StatusServiceUnavailable:
		return 14 // UNAVAILABLE
	}
	return 13 // INTERNAL
}
