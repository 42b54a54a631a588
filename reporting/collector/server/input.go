package server

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nhs-steward/steward/internal/phi"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/reporting/wire"
)

// Problem types of checked input (docs/api.md).
const (
	// ProblemPatientText: free text in the document (a title, a stratum
	// label, a name) holds what looks like an NHS number or a date of
	// birth; field names it.
	ProblemPatientText = "urn:steward:problem:patient-level-text"
	// ProblemUnknownPack: the document names a pack version the collector
	// does not know; publish its bundle to the collector.
	ProblemUnknownPack = "urn:steward:problem:unknown-pack-version"
	// ProblemPackMismatch: the document's measures, titles, strata,
	// searches, parameters or references are not its pack version's.
	ProblemPackMismatch = "urn:steward:problem:pack-mismatch"
)

// Packs tells what the results documents of each pack version hold;
// *catalogue.Catalogue implements it.
type Packs interface {
	// Lookup returns the pack version's spec; an error wrapping
	// results.ErrUnknownPack means the collector does not know it.
	Lookup(id, version string) (*results.PackSpec, error)
}

// Limits on the agent's small fields.
const (
	maxHeartbeatSearches = 100
	maxPending           = 1_000_000
)

var (
	// versionPattern: an agent or bundle version as agents send it
	// ("1.2.3", "dev", "v0.0.0-20250301123456-abcdef123456+dirty").
	versionPattern = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._+:~-]{0,63}$`)
	searchPattern  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	// bundleVersionPattern: a version, or words and versions such as
	// "built-in medsip 1.2.3".
	bundleVersionPattern = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z ._+:~-]{0,127}$`)
)

// agentVersionOK checks the optional agent version header, which is
// stored with a submission. On failure it answers 400 and returns false.
func agentVersionOK(w http.ResponseWriter, r *http.Request) bool {
	v := r.Header.Get(wire.HeaderAgentVersion)
	if v == "" || (versionPattern.MatchString(v) && !phi.ContainsNHSNumber(v)) {
		return true
	}
	writeFieldProblem(w, http.StatusBadRequest, ProblemBadRequest, wire.HeaderAgentVersion,
		wire.HeaderAgentVersion+" is not a version: 1 to 64 of A-Z a-z 0-9 . _ + : ~ -, or leave it out")
	return false
}

// shownODS is an ODS code for a message, or a note that it is not one.
func shownODS(s string) string {
	if odsPattern.MatchString(s) {
		return s
	}
	return "(not an ODS code)"
}

// checkedDocument decodes a submission's body and holds it to the pack
// version it names. On failure it answers (422, or 500 when a pack the
// collector holds cannot be read) and returns false.
func (s *Server) checkedDocument(w http.ResponseWriter, r *http.Request, p collector.Practice, key string, body []byte) (*results.Document, bool) {
	doc, err := results.Decode(bytes.NewReader(body))
	if err == nil {
		var spec *results.PackSpec
		spec, err = s.packs.Lookup(doc.Pack.ID, doc.Pack.Version)
		switch {
		case err == nil:
			err = doc.CheckPack(spec)
		case !errors.Is(err, results.ErrUnknownPack):
			s.internal(w, r, err)
			return nil, false
		}
	}
	if err == nil {
		return doc, true
	}
	typ, field := ProblemInvalid, "$"
	var re *results.Error
	switch {
	case errors.As(err, &re):
		field = re.Field()
		switch re.Kind() {
		case results.ErrPatientLevel:
			typ = ProblemPatientLevel
		case results.ErrPatientText:
			typ = ProblemPatientText
		case results.ErrPackMismatch:
			typ = ProblemPackMismatch
		}
	case errors.Is(err, results.ErrUnknownPack):
		typ, field = ProblemUnknownPack, "$.pack.version"
	}
	status := http.StatusUnprocessableEntity
	if typ == ProblemUnknownPack {
		// Not the document's fault: the collector has not been given that
		// pack version yet. 409 is retried, so the agent keeps the month
		// pending until the bundle is published, instead of setting it
		// aside as refused for good.
		status = http.StatusConflict
	}
	s.log.Warn("submission refused", "practice", p.ODS, "idempotency_key", key, "problem", typ, "field", field)
	writeFieldProblem(w, status, typ, field, err.Error())
	return nil, false
}

// checkEnrolRequest returns the field at fault in an enrolment request and
// what to do, or "".
func checkEnrolRequest(req *wire.EnrolRequest) (field, msg string) {
	pub, err := base64.StdEncoding.DecodeString(req.PublicKey)
	switch {
	case !odsPattern.MatchString(req.Practice):
		return "$.practice", fmt.Sprintf("practice %s is not an ODS code (3 to 10 of A-Z 0-9)", quoteShort(req.Practice))
	case req.Code == "":
		return "$.code", "code is required: the one-time enrolment code from the ICB"
	case len(req.Code) > 128:
		return "$.code", "code is longer than an enrolment code: type the code the ICB gave"
	case err != nil || len(pub) != ed25519.PublicKeySize:
		return "$.public_key", "public_key must be the base64 of a 32-byte ed25519 public key"
	case req.AgentVersion != "" && !versionPattern.MatchString(req.AgentVersion):
		return "$.agent_version", "agent_version is not a version: 1 to 64 of A-Z a-z 0-9 . _ + : ~ -"
	}
	return "", ""
}

// quoteShort quotes a short printable value for a message.
func quoteShort(s string) string {
	if len(s) <= 16 && strconv.CanBackquote(s) && phi.Screen(s) == phi.Nothing {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("(a %d-byte value)", len(s))
}

// checkHeartbeat returns the field at fault in a heartbeat and what is
// wrong, or "". Everything in it is stored and shown on the dashboard.
func checkHeartbeat(hb *wire.Heartbeat) (field, msg string) {
	version := func(path, v string) (string, string) {
		if v != "" && (!versionPattern.MatchString(v) || phi.ContainsNHSNumber(v)) {
			return path, "not a version: 1 to 64 of A-Z a-z 0-9 . _ + : ~ -"
		}
		return "", ""
	}
	when := func(path, v string) (string, string) {
		if v == "" {
			return "", ""
		}
		if _, err := time.Parse(time.RFC3339, v); err != nil || len(v) > 64 {
			return path, "not an RFC 3339 time such as 2025-04-01T02:00:00Z"
		}
		return "", ""
	}
	if f, m := version("$.agent_version", hb.AgentVersion); f != "" {
		return f, m
	}
	// The running bundle's version, or what the agent runs instead, such
	// as "built-in medsip 1.2.3".
	if v := hb.BundleVersion; v != "" && (!bundleVersionPattern.MatchString(v) || phi.ContainsNHSNumber(v)) {
		return "$.bundle_version", "not a bundle version: 1 to 128 of A-Z a-z 0-9 . _ + : ~ - and spaces"
	}
	for _, c := range [][2]string{
		{"$.bundle_stale_since", hb.BundleStale}, {"$.last_run", hb.LastRun}, {"$.last_delivery", hb.LastDelivery}, {"$.sent_at", hb.SentAt},
	} {
		if f, m := when(c[0], c[1]); f != "" {
			return f, m
		}
	}
	if hb.Pending < 0 || hb.Pending > maxPending {
		return "$.pending", fmt.Sprintf("pending is a number of submissions from 0 to %d", maxPending)
	}
	if len(hb.Searches) > maxHeartbeatSearches {
		return "$.searches", fmt.Sprintf("%d searches, more than %d", len(hb.Searches), maxHeartbeatSearches)
	}
	for i, st := range hb.Searches {
		w := fmt.Sprintf("$.searches[%d]", i)
		switch {
		case !searchPattern.MatchString(st.Search):
			return w + ".search", "not a search id: a lower-case letter, then up to 63 of a-z 0-9 _"
		case st.Status != "ok" && st.Status != "no_data" && st.Status != "failed":
			return w + ".status", "status is ok, no_data or failed"
		case math.IsNaN(st.DurationMS) || math.IsInf(st.DurationMS, 0) || st.DurationMS < 0:
			return w + ".duration_ms", "a number of milliseconds from 0"
		case st.Rows < 0:
			return w + ".rows", "a number of rows from 0"
		}
		if f, m := when(w+".at", st.At); f != "" {
			return f, m
		}
	}
	// Held months and problems are the agent's own fixed words (a reason
	// quotes month ends and counts, so dates are expected; an NHS number
	// never is).
	if len(hb.Held) > maxHeartbeatNotes || len(hb.Problems) > maxHeartbeatNotes {
		return "$.held", fmt.Sprintf("more than %d held months or problems", maxHeartbeatNotes)
	}
	for i, h := range hb.Held {
		w := fmt.Sprintf("$.held[%d]", i)
		if t, err := time.Parse(time.DateOnly, h.AsOf); err != nil || t.AddDate(0, 0, 1).Day() != 1 {
			return w + ".as_of", "not a month end, YYYY-MM-DD"
		}
		if f, m := note(w+".reason", h.Reason); f != "" {
			return f, m
		}
		if f, m := when(w+".since", h.Since); f != "" {
			return f, m
		}
	}
	for i, p := range hb.Problems {
		if f, m := note(fmt.Sprintf("$.problems[%d]", i), p); f != "" {
			return f, m
		}
	}
	return "", ""
}

// maxHeartbeatNotes bounds a heartbeat's held months and problems, and
// maxNoteRunes each one's text.
const (
	maxHeartbeatNotes = 200
	maxNoteRunes      = 500
)

// note checks one line of the agent's own words: bounded, printable, no
// NHS number.
func note(path, s string) (string, string) {
	switch {
	case s == "" || utf8.RuneCountInString(s) > maxNoteRunes:
		return path, fmt.Sprintf("1 to %d characters", maxNoteRunes)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return path, "control characters are not allowed"
	case phi.ContainsNHSNumber(s):
		return path, "looks like it holds an NHS number"
	}
	return "", ""
}
