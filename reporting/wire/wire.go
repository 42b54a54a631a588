// Package wire is the contract between steward-agent and steward-collector:
// the HTTP paths, headers and the ed25519 request signature both sides use.
// docs/api.md documents it for people; this package is the one
// implementation both programs share, so they cannot drift apart.
package wire

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Paths served by the collector.
const (
	PathEnrol       = "/v1/enrol"
	PathSubmissions = "/v1/submissions"
	PathHeartbeats  = "/v1/heartbeats"
	PathTUF         = "/v1/tuf/" // TUF repository: metadata and targets
	PathBundles     = "/v1/bundles"
	// PathPracticeSchemes is the route of the schemes a practice takes
	// part in (GET, signed over an empty body); PracticeSchemesPath fills
	// in the practice.
	PathPracticeSchemes = "/v1/practices/{ods}/schemes"
	// PathPracticeSchemesFmt is PathPracticeSchemes with %s for the ODS
	// code.
	PathPracticeSchemesFmt = "/v1/practices/%s/schemes"
)

// PracticeSchemesPath returns the path of practice ods's schemes.
func PracticeSchemesPath(ods string) string { return fmt.Sprintf(PathPracticeSchemesFmt, ods) }

// Request headers of a signed agent request.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderPractice       = "X-Steward-Practice"
	HeaderTimestamp      = "X-Steward-Timestamp"
	HeaderSignature      = "X-Steward-Signature"
	HeaderAgentVersion   = "X-Steward-Agent-Version"
)

// MaxClockSkew is how far a signed request's timestamp may be from the
// collector's clock. Older requests are refused as possible replays.
const MaxClockSkew = 10 * time.Minute

// signingDomain separates these signatures from any other use of the key.
const signingDomain = "steward-request-v1"

// Message returns the bytes a request signature covers: the method, path,
// practice, idempotency key, timestamp and the SHA-256 of the body. Changing
// any of them invalidates the signature.
func Message(method, path, practice, key, timestamp string, body []byte) []byte {
	sum := sha256.Sum256(body)
	return []byte(strings.Join([]string{
		signingDomain, method, path, practice, key, timestamp, hex.EncodeToString(sum[:]),
	}, "\n"))
}

// Sign sets the practice, timestamp and signature headers on req for body.
// The idempotency key header, if any, must already be set.
func Sign(req *http.Request, priv ed25519.PrivateKey, practice string, body []byte, now time.Time) {
	ts := now.UTC().Format(time.RFC3339)
	req.Header.Set(HeaderPractice, practice)
	req.Header.Set(HeaderTimestamp, ts)
	msg := Message(req.Method, req.URL.Path, practice, req.Header.Get(HeaderIdempotencyKey), ts, body)
	req.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString(ed25519.Sign(priv, msg)))
}

// Errors returned by Verify.
var (
	ErrUnsigned  = errors.New("request is not signed")
	ErrSignature = errors.New("signature does not verify")
	ErrStale     = errors.New("request timestamp is outside the allowed clock skew")
)

// Verify checks the signature headers of r against body and pub. It does not
// check that pub belongs to the practice named: the caller looks the key up
// by that practice.
func Verify(r *http.Request, pub ed25519.PublicKey, body []byte, now time.Time) error {
	practice := r.Header.Get(HeaderPractice)
	ts := r.Header.Get(HeaderTimestamp)
	sig64 := r.Header.Get(HeaderSignature)
	if practice == "" || ts == "" || sig64 == "" {
		return ErrUnsigned
	}
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not RFC 3339", ErrStale, ts)
	}
	if d := now.Sub(t); d > MaxClockSkew || d < -MaxClockSkew {
		return fmt.Errorf("%w (%s off)", ErrStale, d.Round(time.Second))
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: malformed signature", ErrSignature)
	}
	msg := Message(r.Method, r.URL.Path, practice, r.Header.Get(HeaderIdempotencyKey), ts, body)
	if !ed25519.Verify(pub, msg, sig) {
		return ErrSignature
	}
	return nil
}

// EnrolRequest is the body of POST /v1/enrol.
type EnrolRequest struct {
	Code         string `json:"code"`
	Practice     string `json:"practice"`
	PublicKey    string `json:"public_key"` // base64 of the 32-byte ed25519 public key
	AgentVersion string `json:"agent_version,omitempty"`
}

// EnrolResponse is the answer to a successful enrolment.
type EnrolResponse struct {
	Practice string `json:"practice"`
	Name     string `json:"name"`
	ICB      string `json:"icb"`
	KeyID    string `json:"key_id"` // SHA-256 fingerprint of the public key, hex
	// CollectorKey is the base64 ed25519 public key the collector signs
	// receipts with; the agent pins it.
	CollectorKey string `json:"collector_key,omitempty"`
}

// Ack is the collector's receipt for a submission: proof that it stored
// exactly this body under this id. A duplicate submission (same idempotency
// key and body) gets the original receipt back. The collector signs it with
// its receipt key (SignReceipt); the agent pins that key at enrolment and
// counts a month as delivered only on a receipt that verifies and names
// the item's id and body digest (VerifyReceipt and Ack.Matches).
type Ack struct {
	SubmissionID string `json:"submission_id"` // the idempotency key
	Practice     string `json:"practice"`
	Pack         string `json:"pack"`
	AsOf         string `json:"as_of"`
	ReceivedAt   string `json:"received_at"`
	Supersedes   string `json:"supersedes,omitempty"` // earlier submission for the same practice, pack and as-of date
	Duplicate    bool   `json:"duplicate,omitempty"`
	// BodySHA256 is the hex SHA-256 of the stored body.
	BodySHA256 string `json:"body_sha256,omitempty"`
	// State is "current", or "superseded" when a newer document for the
	// same month was already stored (the collector keeps it, but the newer
	// one counts).
	State string `json:"state,omitempty"`
	// KeyID names the collector key that signed the receipt (KeyID).
	KeyID string `json:"key_id,omitempty"`
	// Signature is the base64 ed25519 signature of ReceiptMessage.
	Signature string `json:"signature,omitempty"`
}

// Submission states at the collector.
const (
	StateCurrent    = "current"
	StateSuperseded = "superseded"
)

const receiptDomain = "steward-receipt-v1"

// ReceiptMessage returns the bytes a receipt signature covers. Duplicate is
// left out: the same stored submission has one receipt however often it is
// sent.
func ReceiptMessage(a Ack) []byte {
	return []byte(strings.Join([]string{
		receiptDomain, a.SubmissionID, a.Practice, a.Pack, a.AsOf, a.ReceivedAt, a.Supersedes, a.BodySHA256, a.State,
	}, "\n"))
}

// SignReceipt sets the receipt's key id and signature.
func SignReceipt(a *Ack, priv ed25519.PrivateKey) {
	a.KeyID = KeyID(priv.Public().(ed25519.PublicKey))
	a.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, ReceiptMessage(*a)))
}

// ErrReceipt is wrapped by every receipt that does not prove storage.
var ErrReceipt = errors.New("not a valid receipt")

// VerifyReceipt checks a receipt's signature against the pinned collector
// key pub.
func VerifyReceipt(a Ack, pub ed25519.PublicKey) error {
	if a.Signature == "" {
		return fmt.Errorf("%w: it is not signed", ErrReceipt)
	}
	sig, err := base64.StdEncoding.DecodeString(a.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: malformed signature", ErrReceipt)
	}
	if !ed25519.Verify(pub, ReceiptMessage(a), sig) {
		if a.KeyID != "" && a.KeyID != KeyID(pub) {
			return fmt.Errorf("%w: signed by collector key %s, not the pinned key %s", ErrReceipt, a.KeyID, KeyID(pub))
		}
		return fmt.Errorf("%w: the signature does not verify with the collector key pinned at enrolment", ErrReceipt)
	}
	return nil
}

// Matches checks that a verified receipt is for the submission sent: the
// same practice, id and body.
func (a Ack) Matches(practice, id string, body []byte) error {
	sum := sha256.Sum256(body)
	switch {
	case a.SubmissionID != id:
		return fmt.Errorf("%w: it names submission %q, not %q", ErrReceipt, a.SubmissionID, id)
	case a.Practice != practice:
		return fmt.Errorf("%w: it names practice %q, not %q", ErrReceipt, a.Practice, practice)
	case a.BodySHA256 != hex.EncodeToString(sum[:]):
		return fmt.Errorf("%w: the body digest %q is not that of the document sent", ErrReceipt, a.BodySHA256)
	}
	return nil
}

// Receipts is the answer to GET /v1/practices/{ods}/receipts: the receipt
// of every submission the collector holds for the practice that is current
// for its month, oldest month first, signed as a whole so that a list
// cannot be cut short unseen.
type Receipts struct {
	Practice    string `json:"practice"`
	GeneratedAt string `json:"generated_at"`
	Receipts    []Ack  `json:"receipts"`
	// CollectorKey is the base64 public receipt key, for agents enrolled
	// before receipts were signed to pin on first use.
	CollectorKey string `json:"collector_key"`
	KeyID        string `json:"key_id"`
	Signature    string `json:"signature"`
}

const receiptsDomain = "steward-receipts-v1"

func receiptsMessage(r Receipts) []byte {
	h := sha256.New()
	for _, a := range r.Receipts {
		h.Write(ReceiptMessage(a))
		h.Write([]byte{0})
	}
	return []byte(strings.Join([]string{receiptsDomain, r.Practice, r.GeneratedAt, r.CollectorKey, hex.EncodeToString(h.Sum(nil))}, "\n"))
}

// SignReceipts signs each receipt and the list.
func SignReceipts(r *Receipts, priv ed25519.PrivateKey) {
	for i := range r.Receipts {
		SignReceipt(&r.Receipts[i], priv)
	}
	r.KeyID = KeyID(priv.Public().(ed25519.PublicKey))
	r.CollectorKey = base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
	r.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, receiptsMessage(*r)))
}

// VerifyReceipts checks the list's signature and every receipt in it.
func VerifyReceipts(r Receipts, pub ed25519.PublicKey) error {
	sig, err := base64.StdEncoding.DecodeString(r.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, receiptsMessage(r), sig) {
		return fmt.Errorf("%w: the receipt list is not signed by the collector key pinned at enrolment", ErrReceipt)
	}
	for _, a := range r.Receipts {
		if err := VerifyReceipt(a, pub); err != nil {
			return err
		}
	}
	return nil
}

// PathReceipts is the signed GET that lists a practice's receipts; fill
// in the ODS code with ReceiptsPath.
const PathReceipts = "/v1/practices/{ods}/receipts"

// ReceiptsPath is PathReceipts for one practice.
func ReceiptsPath(ods string) string { return "/v1/practices/" + ods + "/receipts" }

// HeaderDate is the standard Date header; the agent reads the collector's
// clock from it.
const HeaderDate = "Date"

// Heartbeat is the body of POST /v1/heartbeats.
type Heartbeat struct {
	Practice      string      `json:"practice"`
	AgentVersion  string      `json:"agent_version"`
	BundleVersion string      `json:"bundle_version,omitempty"`
	BundleStale   string      `json:"bundle_stale_since,omitempty"`
	LastRun       string      `json:"last_run,omitempty"`
	LastDelivery  string      `json:"last_delivery,omitempty"`
	Pending       int         `json:"pending"`
	Searches      []RunStatus `json:"searches,omitempty"`
	SentAt        string      `json:"sent_at"`
	// Nonce is random (NewNonce) and new for every heartbeat: the
	// collector records it and refuses the same heartbeat twice within
	// MaxClockSkew of SentAt.
	Nonce string `json:"nonce,omitempty"`
	// Held lists months the agent computed but holds back (a failed data
	// quality gate, or a month not yet ended by one of the two clocks).
	Held []HeldMonth `json:"held,omitempty"`
	// Problems are faults in the agent's own files that need the practice
	// manager (an unreadable outbox item, a corrupt state file), each with
	// its fix, in fixed words.
	Problems []string `json:"problems,omitempty"`
}

// HeldMonth is a month the agent holds back, and why.
type HeldMonth struct {
	AsOf   string `json:"as_of"`
	Reason string `json:"reason"`
	Since  string `json:"since,omitempty"`
}

// MaxHeartbeatBytes is the largest heartbeat body the collector accepts.
const MaxHeartbeatBytes = 64 << 10

// NewNonce returns 16 random bytes in hex, for Heartbeat.Nonce.
func NewNonce() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("wire: no randomness: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// RunStatus is the last outcome of one search at the practice.
type RunStatus struct {
	Search     string  `json:"search"`
	Status     string  `json:"status"` // "ok", "no_data", "failed"
	DurationMS float64 `json:"duration_ms"`
	Rows       int64   `json:"rows"`
	At         string  `json:"at"`
}

// PracticeSchemes is the answer to GET PathPracticeSchemes: the incentive
// schemes that include the practice, so that its agent can tell whether
// its baseline and pack version are ones the schemes pay on.
type PracticeSchemes struct {
	Schemes []PracticeScheme `json:"schemes"`
}

// PracticeScheme is one scheme that includes a practice.
type PracticeScheme struct {
	ID string `json:"id"`
	// Baseline is the scheme's baseline date, YYYY-MM-DD: results must be
	// calculated with it to count.
	Baseline string `json:"baseline"`
	// Pack and Versions are the search pack and the range of its versions
	// the scheme accepts, e.g. "medsip" and ">=2026.1.0 <2027.0.0".
	Pack     string `json:"pack"`
	Versions string `json:"versions"`
	// Periods are the scheme's monthly periods, YYYY-MM, in order.
	Periods []string `json:"periods"`
	// Retired is true for a scheme the ICB has retired: it no longer pays.
	Retired bool `json:"retired"`
}

// Problem is the JSON body of every error response (RFC 9457 fields).
type Problem struct {
	Type   string `json:"type,omitempty"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Field is the JSON path (e.g. $.measures[2].title) or the header or
	// form field the problem is about, when there is one: an extension
	// member.
	Field string `json:"field,omitempty"`
}

// KeyID returns the fingerprint of a public key.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:16])
}
