package server

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/nhs-steward/steward/internal/strictjson"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/reporting/wire"
)

// Problem types: stable identifiers documented in docs/api.md.
const (
	ProblemBadRequest    = "urn:steward:problem:bad-request"
	ProblemTooLarge      = "urn:steward:problem:too-large"
	ProblemUnauthorised  = "urn:steward:problem:unauthorised"
	ProblemStale         = "urn:steward:problem:stale-request"
	ProblemForbidden     = "urn:steward:problem:forbidden"
	ProblemEnrolRefused  = "urn:steward:problem:enrolment-refused"
	ProblemInvalid       = "urn:steward:problem:invalid-document"
	ProblemPatientLevel  = "urn:steward:problem:patient-level-field"
	ProblemConflict      = "urn:steward:problem:idempotency-conflict"
	ProblemInternal      = "urn:steward:problem:internal"
	ProblemNotEnrolled   = "urn:steward:problem:not-enrolled"
	ProblemMonthNotEnded = "urn:steward:problem:month-not-ended"
	maxEnrolRequestBytes = 16 << 10
)

func writeProblem(w http.ResponseWriter, status int, typ, detail string) {
	writeFieldProblem(w, status, typ, "", detail)
}

// writeFieldProblem is writeProblem naming the field at fault: a JSON path
// or a header.
func writeFieldProblem(w http.ResponseWriter, status int, typ, field, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(wire.Problem{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail, Field: field})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readBody reads the request body up to limit, answering 413 (and
// returning false) beyond it.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	if r.ContentLength > limit {
		writeProblem(w, http.StatusRequestEntityTooLarge, ProblemTooLarge, fmt.Sprintf("the body is %d bytes; the limit is %d", r.ContentLength, limit))
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeProblem(w, http.StatusRequestEntityTooLarge, ProblemTooLarge, fmt.Sprintf("the body is larger than the limit of %d bytes", limit))
		return nil, false
	case err != nil:
		writeProblem(w, http.StatusBadRequest, ProblemBadRequest, "the request body could not be read")
		return nil, false
	}
	return body, true
}

// verified checks a signed agent request: the practice named must be
// enrolled and the signature must verify with its key within the allowed
// clock skew. On failure it answers 401 and returns false.
func (s *Server) verified(w http.ResponseWriter, r *http.Request, body []byte) (collector.Practice, bool) {
	ods := r.Header.Get(wire.HeaderPractice)
	if ods == "" {
		writeProblem(w, http.StatusUnauthorized, ProblemUnauthorised, "the request is not signed: send "+wire.HeaderPractice+", "+wire.HeaderTimestamp+" and "+wire.HeaderSignature)
		return collector.Practice{}, false
	}
	if !odsPattern.MatchString(ods) {
		writeFieldProblem(w, http.StatusUnauthorized, ProblemUnauthorised, wire.HeaderPractice,
			wire.HeaderPractice+" is not an ODS code (3 to 10 of A-Z 0-9): send the enrolled practice's code")
		return collector.Practice{}, false
	}
	p, err := s.opts.Store.Practice(r.Context(), ods)
	if errors.Is(err, collector.ErrNotFound) || (err == nil && !p.Enrolled()) {
		s.log.Warn("signed request from a practice that is not enrolled", "practice", ods, "path", r.URL.Path)
		writeProblem(w, http.StatusUnauthorized, ProblemNotEnrolled, "this practice is not enrolled: enrol the agent with a code from the ICB")
		return p, false
	}
	if err != nil {
		s.internal(w, r, err)
		return p, false
	}
	if err := wire.Verify(r, ed25519.PublicKey(p.PublicKey), body, s.now()); err != nil {
		s.log.Warn("signed request refused", "practice", ods, "path", r.URL.Path, "err", err)
		if errors.Is(err, wire.ErrStale) {
			writeProblem(w, http.StatusUnauthorized, ProblemStale, err.Error()+": check the practice server's clock")
		} else {
			writeProblem(w, http.StatusUnauthorized, ProblemUnauthorised, err.Error()+" with this practice's enrolled key")
		}
		return p, false
	}
	return p, true
}

func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeProblem(w, http.StatusInternalServerError, ProblemInternal, "the collector could not complete the request; try again later")
}

var (
	odsPattern = regexp.MustCompile(`^[A-Z0-9]{3,10}$`)
	keyPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{8,128}$`)
)

// decodeStrict decodes one JSON value into v (strictjson.Decode): invalid
// UTF-8, a repeated key at any depth, unknown fields, values of the wrong
// type and trailing data are refused. It returns the JSON path at fault.
func decodeStrict(body []byte, v any) (field string, err error) {
	err = strictjson.Decode(body, v)
	var se *strictjson.Error
	if errors.As(err, &se) {
		return se.Path, err
	}
	return "$", err
}

func (s *Server) enrol(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r, maxEnrolRequestBytes)
	if !ok {
		return
	}
	var req wire.EnrolRequest
	if field, err := decodeStrict(body, &req); err != nil {
		writeFieldProblem(w, http.StatusBadRequest, ProblemBadRequest, field, "the body is not an enrolment request: "+err.Error())
		return
	}
	if field, msg := checkEnrolRequest(&req); field != "" {
		writeFieldProblem(w, http.StatusBadRequest, ProblemBadRequest, field, msg)
		return
	}
	pub, _ := base64.StdEncoding.DecodeString(req.PublicKey)
	keyID := wire.KeyID(pub)
	p, err := s.opts.Store.Enrol(r.Context(), req.Practice, auth.HashEnrolmentCode(req.Code), pub, keyID, s.now())
	if errors.Is(err, collector.ErrEnrolRefused) || errors.Is(err, collector.ErrNotFound) {
		s.log.Warn("enrolment refused", "practice", req.Practice, "reason", err)
		writeProblem(w, http.StatusForbidden, ProblemEnrolRefused,
			"the enrolment code is not valid for this practice: it may be mistyped, expired or already used; ask the ICB for a new code")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.log.Info("practice enrolled", "practice", p.ODS, "key_id", keyID, "agent_version", req.AgentVersion)
	writeJSON(w, http.StatusOK, wire.EnrolResponse{Practice: p.ODS, Name: p.Name, ICB: p.ICB, KeyID: keyID,
		CollectorKey: base64.StdEncoding.EncodeToString(s.opts.ReceiptKey.Public().(ed25519.PublicKey))})
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get(wire.HeaderIdempotencyKey)
	if !keyPattern.MatchString(key) {
		writeProblem(w, http.StatusBadRequest, ProblemBadRequest, wire.HeaderIdempotencyKey+" is required: 8 to 128 characters of A-Z a-z 0-9 . _ : - (a UUID is ideal)")
		return
	}
	if !agentVersionOK(w, r) {
		return
	}
	body, ok := s.readBody(w, r, s.opts.MaxRequestBytes)
	if !ok {
		return
	}
	p, ok := s.verified(w, r, body)
	if !ok {
		return
	}
	doc, ok := s.checkedDocument(w, r, p, key, body)
	if !ok {
		return
	}
	if doc.Practice != p.ODS {
		s.log.Warn("submission names another practice", "practice", p.ODS, "document_practice", doc.Practice)
		writeProblem(w, http.StatusForbidden, ProblemForbidden,
			fmt.Sprintf("the document is for practice %s but was signed by %s: a practice submits only its own results", doc.Practice, p.ODS))
		return
	}
	if problem := s.checkTime(doc); problem != "" {
		s.log.Warn("submission refused", "practice", p.ODS, "idempotency_key", key, "as_of", doc.AsOf, "problem", ProblemMonthNotEnded)
		writeProblem(w, http.StatusUnprocessableEntity, ProblemMonthNotEnded, problem)
		return
	}
	sum := sha256.Sum256(body)
	sub := collector.Submission{
		Practice: p.ODS, IdempotencyKey: key, BodySHA256: hex.EncodeToString(sum[:]), Body: body,
		Signature: r.Header.Get(wire.HeaderSignature), KeyID: p.KeyID, SignedAt: r.Header.Get(wire.HeaderTimestamp),
		ReceivedAt: s.now(), Pack: doc.Pack.ID, PackVersion: doc.Pack.Version, AsOf: doc.AsOf, Baseline: doc.Baseline,
		AgentVersion: r.Header.Get(wire.HeaderAgentVersion), GeneratedAt: doc.GeneratedAt,
	}
	if c := doc.Correction; c != nil {
		sub.Corrects, sub.CorrectionReason = c.Supersedes, strings.TrimSpace(c.Reason)
	}
	for _, m := range doc.Measures {
		sub.Measures = append(sub.Measures, collector.MeasureRow{
			MeasureID: m.ID, Kind: m.Kind, Numerator: m.Numerator, Denominator: m.Denominator,
			Per: m.Per, Value: m.Value, Suppressed: m.Suppressed,
		})
	}
	// The store answers only after the transaction holding the
	// submission has committed.
	sctx, cancel := storeContext(r)
	defer cancel()
	res, err := s.opts.Store.Ingest(sctx, sub)
	switch {
	case errors.Is(err, collector.ErrIdempotencyConflict):
		s.log.Warn("idempotency key reused with another body", "practice", p.ODS, "idempotency_key", key)
		writeProblem(w, http.StatusConflict, ProblemConflict,
			"this idempotency key was already used for a different body: send new results with a new key")
		return
	case errors.Is(err, collector.ErrNotFound):
		writeProblem(w, http.StatusUnauthorized, ProblemNotEnrolled, "this practice is not enrolled")
		return
	case err != nil:
		s.internal(w, r, err)
		return
	}
	ack := s.receipt(res.Submission)
	status := http.StatusCreated
	if res.Duplicate {
		ack.Duplicate, status = true, http.StatusOK
	}
	s.log.Info("submission", "practice", p.ODS, "idempotency_key", key, "pack", doc.Pack.ID, "as_of", doc.AsOf,
		"duplicate", res.Duplicate, "state", ack.State, "supersedes", ack.Supersedes, "corrects", sub.Corrects)
	writeJSON(w, status, ack)
}

// checkTime returns why a document's dates cannot be accepted yet, or "":
// its month must have ended by the collector's clock (a figure for a month
// in progress is computed from partial data), and it cannot have been
// generated in the collector's future.
func (s *Server) checkTime(doc *results.Document) string {
	now := s.now().UTC()
	asOf, err := time.Parse(time.DateOnly, doc.AsOf)
	if err == nil && !now.After(asOf.AddDate(0, 0, 1)) {
		return fmt.Sprintf("as_of %s: the month has not ended by the collector's clock (%s UTC); figures for a month are accepted from %s. If the practice server's clock is ahead, correct it",
			doc.AsOf, now.Format("2006-01-02 15:04"), asOf.AddDate(0, 0, 1).Format(time.DateOnly))
	}
	if doc.GeneratedAt != "" {
		if g, err := time.Parse(time.RFC3339Nano, doc.GeneratedAt); err == nil && g.Sub(now) > wire.MaxClockSkew {
			return fmt.Sprintf("generated_at %s is in the future by the collector's clock (%s UTC): correct the practice server's clock, then resend",
				doc.GeneratedAt, now.Format(time.RFC3339))
		}
	}
	return ""
}

// AckFor is the unsigned acknowledgement of a stored submission.
func AckFor(s collector.Submission) wire.Ack {
	state := wire.StateCurrent
	if s.SupersededBy != "" {
		state = wire.StateSuperseded
	}
	return wire.Ack{
		SubmissionID: s.IdempotencyKey, Practice: s.Practice, Pack: s.Pack, AsOf: s.AsOf,
		ReceivedAt: s.ReceivedAt.UTC().Format(time.RFC3339Nano), Supersedes: s.Supersedes,
		BodySHA256: s.BodySHA256, State: state,
	}
}

// receipt is the signed receipt of a stored submission.
func (s *Server) receipt(sub collector.Submission) wire.Ack {
	a := AckFor(sub)
	wire.SignReceipt(&a, s.opts.ReceiptKey)
	return a
}

// receipts lists, signed, the receipt of every current submission of the
// practice: the agent compares it with what it sent and resends what a
// collector restored from a backup has lost. The request is signed like
// any agent request, over an empty body.
func (s *Server) receipts(w http.ResponseWriter, r *http.Request) {
	p, ok := s.verified(w, r, nil)
	if !ok {
		return
	}
	if ods := r.PathValue("ods"); ods != p.ODS {
		writeProblem(w, http.StatusForbidden, ProblemForbidden, fmt.Sprintf("practice %s may read only its own receipts, not %s's", p.ODS, ods))
		return
	}
	subs, err := s.opts.Store.CurrentSubmissions(r.Context(), store.SubmissionFilter{Practice: p.ODS})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := wire.Receipts{Practice: p.ODS, GeneratedAt: s.now().UTC().Format(time.RFC3339Nano), Receipts: []wire.Ack{}}
	for _, sub := range subs {
		out.Receipts = append(out.Receipts, AckFor(sub))
	}
	wire.SignReceipts(&out, s.opts.ReceiptKey)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r, s.heartbeatLimit())
	if !ok {
		return
	}
	p, ok := s.verified(w, r, body)
	if !ok {
		return
	}
	var hb wire.Heartbeat
	if field, err := decodeStrict(body, &hb); err != nil {
		writeFieldProblem(w, http.StatusUnprocessableEntity, ProblemInvalid, field, "the body is not a heartbeat: "+err.Error())
		return
	}
	if hb.Practice != p.ODS {
		writeFieldProblem(w, http.StatusForbidden, ProblemForbidden, "$.practice",
			fmt.Sprintf("the heartbeat is for practice %s but was signed by %s", shownODS(hb.Practice), p.ODS))
		return
	}
	if field, msg := checkHeartbeat(&hb); field != "" {
		writeFieldProblem(w, http.StatusUnprocessableEntity, ProblemInvalid, field, "the body is not a heartbeat: "+msg)
		return
	}
	nonce, ok := s.replayKey(w, r, &hb)
	if !ok {
		return
	}
	sctx, cancel := storeContext(r)
	defer cancel()
	err := s.opts.Store.RecordHeartbeat(sctx, collector.Heartbeat{
		Practice: p.ODS, ReceivedAt: s.now(), AgentVersion: hb.AgentVersion, BundleVersion: hb.BundleVersion,
		Pending: hb.Pending, Body: body, Nonce: nonce,
	})
	if errors.Is(err, collector.ErrReplay) {
		s.log.Warn("replayed heartbeat refused", "practice", p.ODS)
		writeProblem(w, http.StatusConflict, ProblemReplayed, "this heartbeat was already received (same nonce); nothing was stored: send each heartbeat with a new nonce")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
