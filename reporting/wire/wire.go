// Package wire is the contract between steward-agent and steward-collector:
// the HTTP paths, headers and the ed25519 request signature both sides use.
// docs/api.md documents it for people; this package is the one
// implementation both programs share, so they cannot drift apart.
package wire

import (
	"crypto/ed25519"
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
)

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
}

// Ack is the collector's acknowledgement of a submission. A duplicate
// submission (same idempotency key and body) gets the original Ack back.
type Ack struct {
	SubmissionID string `json:"submission_id"` // the idempotency key
	Practice     string `json:"practice"`
	Pack         string `json:"pack"`
	AsOf         string `json:"as_of"`
	ReceivedAt   string `json:"received_at"`
	Supersedes   string `json:"supersedes,omitempty"` // earlier submission for the same practice, pack and as-of date
	Duplicate    bool   `json:"duplicate,omitempty"`
}

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
}

// RunStatus is the last outcome of one search at the practice.
type RunStatus struct {
	Search     string  `json:"search"`
	Status     string  `json:"status"` // "ok", "no_data", "failed"
	DurationMS float64 `json:"duration_ms"`
	Rows       int64   `json:"rows"`
	At         string  `json:"at"`
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
