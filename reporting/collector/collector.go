// Package collector holds the nouns of steward-collector, the ICB's central
// service: practices, people and their roles, submissions and the measure
// rows extracted from them, heartbeats and the audit log. Storage lives in
// collector/store (SQLite and PostgreSQL), the agent API in collector/server
// and the browser pages in collector/web.
package collector

import (
	"errors"
	"time"
)

// Errors callers branch on. Store implementations wrap them.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrEnrolRefused means an enrolment code is unknown, expired, used or
	// for another practice. The reason travels in the wrapping message for
	// the log, never to the caller.
	ErrEnrolRefused = errors.New("enrolment refused")
	// ErrIdempotencyConflict means an idempotency key was reused with a
	// different body.
	ErrIdempotencyConflict = errors.New("idempotency key reused with a different body")
	// ErrReplay means a heartbeat's nonce was already recorded for the
	// practice: the same heartbeat was sent again.
	ErrReplay = errors.New("heartbeat already received")
)

// Practice is a GP practice known to the collector.
type Practice struct {
	ODS       string // ODS code, e.g. Y01234
	Name      string
	ICB       string // ICB code
	PCN       string // primary care network, may be empty
	CreatedAt time.Time
	// PublicKey is the agent's ed25519 public key; nil until enrolled.
	PublicKey  []byte
	KeyID      string
	EnrolledAt time.Time // zero until enrolled
}

// Enrolled reports whether an agent key is registered for the practice.
func (p *Practice) Enrolled() bool { return len(p.PublicKey) > 0 }

// Role is what a user may do.
type Role string

// Roles.
const (
	RoleICBAnalyst   Role = "icb_analyst"   // sees the practices of one ICB
	RoleSearchAuthor Role = "search_author" // may publish search bundles
	RoleAdmin        Role = "admin"         // everything
	// RolePractice is a person at a practice (User.Practice): sees that
	// practice only, and declares its claims when given a sign-off role.
	RolePractice Role = "practice"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleICBAnalyst, RoleSearchAuthor, RoleAdmin, RolePractice:
		return true
	}
	return false
}

// User is a person who signs in to the collector.
type User struct {
	ID           int64
	Name         string
	Role         Role
	ICB          string // the ICB an analyst belongs to; may be empty for admins
	PasswordHash string // argon2id encoded; empty when the user has only tokens
	CreatedAt    time.Time
	Disabled     bool
	// Practice is the ODS code of the practice a practice user acts for.
	Practice string
	// SignOff lists the scheme sign-off roles the user holds (a scheme's
	// sign_off names who may declare, approve and pay: docs/schemes.md).
	// They are separate from Role: an admin cannot approve a claim
	// without one.
	SignOff []string
}

// Session is a signed-in browser session. The store keeps only a hash of
// the session id.
type Session struct {
	UserID    int64
	CSRFToken string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Submission is one stored results document as received.
type Submission struct {
	ID             int64
	Practice       string
	IdempotencyKey string
	BodySHA256     string // hex
	Body           []byte // the raw signed body, exactly as received
	Signature      string // base64, as in the request header
	KeyID          string
	SignedAt       string // the request timestamp header, as signed
	ReceivedAt     time.Time
	Pack           string
	PackVersion    string
	AsOf           string // YYYY-MM-DD
	Baseline       string // the document's baseline date, YYYY-MM-DD, or ""
	AgentVersion   string
	// Supersedes is the idempotency key of the submission this one
	// replaced, or "".
	Supersedes string
	// SupersededBy is the idempotency key of the submission that replaced
	// this one, or "" while it is current.
	SupersededBy string
	// GeneratedAt is the document's own generation time (RFC 3339), which
	// orders two documents for the same month: an older one arriving late
	// never supersedes a newer one.
	GeneratedAt string
	// Corrects is the idempotency key of the submission this correction
	// replaces, and CorrectionReason the practice's reason; both "" for an
	// ordinary submission.
	Corrects         string
	CorrectionReason string
	Measures         []MeasureRow
}

// Current reports whether s is the latest submission for its practice, pack
// and as-of date.
func (s *Submission) Current() bool { return s.SupersededBy == "" }

// MeasureRow is one measure extracted from a submission, kept in a table so
// that reconciliation can query numerators and denominators.
type MeasureRow struct {
	SubmissionID int64
	Practice     string
	Pack         string
	PackVersion  string
	AsOf         string
	MeasureID    string
	Kind         string   // count, sum, ratio
	Numerator    *float64 // ratios only
	Denominator  *float64 // ratios only
	Per          float64
	Value        *float64 // nil when suppressed or the denominator is 0
	Suppressed   bool
	ReceivedAt   time.Time
}

// Heartbeat is one heartbeat as received.
type Heartbeat struct {
	Practice      string
	ReceivedAt    time.Time
	AgentVersion  string
	BundleVersion string
	Pending       int
	Body          []byte // the raw JSON body
	// Nonce identifies the heartbeat for replay detection: the agent's
	// random nonce, or for an agent too old to send one a digest of the
	// request's signature. Empty: not checked.
	Nonce string
}

// SilentPractice is a practice that has not sent a heartbeat recently.
type SilentPractice struct {
	Practice      Practice
	LastHeartbeat time.Time // zero if it never sent one
}

// Lockout is a temporary refusal of sign-ins after too many failures, for
// an account ("user:NAME") or a client address ("address:IP").
type Lockout struct {
	Subject  string
	LockedAt time.Time
	Until    time.Time
	Failures int
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID      int64
	At      time.Time
	Actor   string // "user:NAME", "practice:ODS", "cli"
	Action  string // e.g. "practice.add", "practice.enrol", "submission.supersede"
	Subject string // what it was done to, e.g. an ODS code
	Before  string // JSON, may be empty
	After   string // JSON, may be empty
}
