package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
)

// StoredScheme is an incentive scheme file as the collector keeps it: the
// YAML exactly as added, parsed again (package schemes) when used.
type StoredScheme struct {
	ID      string
	YAML    string
	AddedAt time.Time
	AddedBy string
	// RetiredAt is when the scheme was retired (zero while it is in
	// force), by RetiredBy, for RetiredReason. A retired scheme is kept
	// with its calculations and claims, for audit.
	RetiredAt     time.Time
	RetiredBy     string
	RetiredReason string
}

// Retired reports whether the scheme has been retired.
func (s StoredScheme) Retired() bool { return !s.RetiredAt.IsZero() }

// AddScheme stores a scheme (ErrExists if its id is taken) and records it in
// the audit log as done by s.AddedBy. The caller validates the YAML first.
func (db *DB) AddScheme(ctx context.Context, s StoredScheme) error {
	if s.AddedAt.IsZero() {
		s.AddedAt = time.Now()
	}
	return db.inTx(ctx, func(tx handle) error {
		_, err := tx.exec(ctx, "INSERT INTO schemes (id, yaml, added_at, added_by) VALUES (?, ?, ?, ?)",
			s.ID, s.YAML, db.ts(s.AddedAt), s.AddedBy)
		if db.isUniqueViolation(err) {
			return fmt.Errorf("scheme %s: %w", s.ID, collector.ErrExists)
		}
		if err != nil {
			return fmt.Errorf("add scheme %s: %w", s.ID, err)
		}
		after, _ := json.Marshal(map[string]any{"id": s.ID, "yaml_bytes": len(s.YAML)})
		return db.appendAudit(ctx, tx, collector.AuditEntry{At: s.AddedAt, Actor: s.AddedBy, Action: "scheme.add", Subject: "scheme:" + s.ID, After: string(after)})
	})
}

// schemeColumns are the columns scanScheme reads.
const schemeColumns = "id, yaml, added_at, added_by, retired_at, retired_by, retired_reason"

type rowScanner interface{ Scan(dest ...any) error }

func scanScheme(r rowScanner) (StoredScheme, error) {
	var s StoredScheme
	err := r.Scan(&s.ID, &s.YAML, timeScan{&s.AddedAt}, &s.AddedBy, timeScan{&s.RetiredAt}, &s.RetiredBy, &s.RetiredReason)
	return s, err
}

// Scheme returns the stored scheme with id (ErrNotFound if none).
func (db *DB) Scheme(ctx context.Context, id string) (StoredScheme, error) {
	s, err := scanScheme(db.r.queryRow(ctx, "SELECT "+schemeColumns+" FROM schemes WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("scheme %s: %w", id, collector.ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("read scheme %s: %w", id, err)
	}
	return s, nil
}

// Schemes lists the stored schemes by id, retired ones included.
func (db *DB) Schemes(ctx context.Context) ([]StoredScheme, error) {
	out, err := queryAll(ctx, db.r, "SELECT "+schemeColumns+" FROM schemes ORDER BY id", func(rows *sql.Rows) (StoredScheme, error) {
		return scanScheme(rows)
	})
	if err != nil {
		return nil, fmt.Errorf("list schemes: %w", err)
	}
	return out, nil
}

// ErrRetired is returned for a change to a retired scheme.
var ErrRetired = errors.New("scheme retired")

// ErrClaimsInProgress is returned when a scheme cannot be retired because
// some of its claims are declared or approved: someone is signing them off.
var ErrClaimsInProgress = errors.New("claims being signed off")

// RetireScheme marks scheme id retired as of at, by actor, for reason, and
// audits it. A retired scheme stays stored, with its calculations, claims
// and history. It refuses (ErrClaimsInProgress, naming them) while any
// claim of the scheme is declared or approved, and a scheme already
// retired (ErrRetired).
func (db *DB) RetireScheme(ctx context.Context, id, actor, reason string, at time.Time) error {
	return db.inTx(ctx, func(tx handle) error {
		lock := ""
		if db.engine == Postgres {
			lock = " FOR UPDATE"
		}
		s, err := scanScheme(tx.queryRow(ctx, "SELECT "+schemeColumns+" FROM schemes WHERE id = ?"+lock, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("scheme %s: %w", id, collector.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("read scheme %s: %w", id, err)
		}
		if s.Retired() {
			return fmt.Errorf("scheme %s was retired on %s by %s: %w", id, s.RetiredAt.UTC().Format(time.DateOnly), s.RetiredBy, ErrRetired)
		}
		busy, err := queryAll(ctx, tx, `SELECT period, practice, state FROM claims WHERE scheme = ? AND state IN ('declared', 'approved')
		ORDER BY period, practice`, func(rows *sql.Rows) (string, error) {
			var period, practice, state string
			err := rows.Scan(&period, &practice, &state)
			return period + " " + practice + " " + state, err
		}, id)
		if err != nil {
			return fmt.Errorf("read claims of %s: %w", id, err)
		}
		if len(busy) > 0 {
			return fmt.Errorf("scheme %s: %w: %s", id, ErrClaimsInProgress, strings.Join(busy, ", "))
		}
		if _, err := tx.exec(ctx, "UPDATE schemes SET retired_at = ?, retired_by = ?, retired_reason = ? WHERE id = ?",
			db.ts(at), actor, reason, id); err != nil {
			return fmt.Errorf("retire scheme %s: %w", id, err)
		}
		after, _ := json.Marshal(map[string]any{"retired": true, "reason": reason})
		return db.appendAudit(ctx, tx, collector.AuditEntry{At: at, Actor: actor, Action: "scheme.retire", Subject: "scheme:" + id,
			Before: `{"retired":false}`, After: string(after)})
	})
}
