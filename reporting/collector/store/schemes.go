package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
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
}

// AddScheme stores a scheme (ErrExists if its id is taken) and records it in
// the audit log as done by s.AddedBy. The caller validates the YAML first.
func (db *DB) AddScheme(ctx context.Context, s StoredScheme) error {
	if s.AddedAt.IsZero() {
		s.AddedAt = time.Now()
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q("INSERT INTO schemes (id, yaml, added_at, added_by) VALUES (?, ?, ?, ?)"),
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

// Scheme returns the stored scheme with id (ErrNotFound if none).
func (db *DB) Scheme(ctx context.Context, id string) (StoredScheme, error) {
	var s StoredScheme
	err := db.r.QueryRowContext(ctx, db.q("SELECT id, yaml, added_at, added_by FROM schemes WHERE id = ?"), id).
		Scan(&s.ID, &s.YAML, timeScan{&s.AddedAt}, &s.AddedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("scheme %s: %w", id, collector.ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("read scheme %s: %w", id, err)
	}
	return s, nil
}

// Schemes lists the stored schemes by id.
func (db *DB) Schemes(ctx context.Context) ([]StoredScheme, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT id, yaml, added_at, added_by FROM schemes ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list schemes: %w", err)
	}
	defer rows.Close()
	var out []StoredScheme
	for rows.Next() {
		var s StoredScheme
		if err := rows.Scan(&s.ID, &s.YAML, timeScan{&s.AddedAt}, &s.AddedBy); err != nil {
			return nil, fmt.Errorf("list schemes: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list schemes: %w", err)
	}
	return out, nil
}
