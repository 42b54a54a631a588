package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
)

// AuditLog is the append-only record of who changed what.
type AuditLog struct{ db *DB }

// Audit returns the audit log.
func (db *DB) Audit() *AuditLog { return &AuditLog{db: db} }

// Append adds an entry (At defaults to now) and returns its id.
func (a *AuditLog) Append(ctx context.Context, e collector.AuditEntry) (int64, error) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	var id int64
	err := a.db.w.queryRow(ctx, "INSERT INTO audit_log (at, actor, action, subject, before_json, after_json) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
		a.db.ts(e.At), e.Actor, e.Action, e.Subject, e.Before, e.After).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("append audit entry: %w", err)
	}
	return id, nil
}

func (db *DB) appendAudit(ctx context.Context, q handle, e collector.AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	_, err := q.exec(ctx, "INSERT INTO audit_log (at, actor, action, subject, before_json, after_json) VALUES (?, ?, ?, ?, ?, ?)",
		db.ts(e.At), e.Actor, e.Action, e.Subject, e.Before, e.After)
	if err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	return nil
}

// List returns entries about subject ("" for all), newest first, at most
// limit (0: 1000).
func (a *AuditLog) List(ctx context.Context, subject string, limit int) ([]collector.AuditEntry, error) {
	if limit <= 0 {
		limit = 1000
	}
	query, args := "SELECT id, at, actor, action, subject, before_json, after_json FROM audit_log", []any{}
	if subject != "" {
		query += " WHERE subject = ?"
		args = append(args, subject)
	}
	args = append(args, limit)
	out, err := queryAll(ctx, a.db.r, query+" ORDER BY at DESC, id DESC LIMIT ?", func(rows *sql.Rows) (collector.AuditEntry, error) {
		var e collector.AuditEntry
		err := rows.Scan(&e.ID, timeScan{&e.At}, &e.Actor, &e.Action, &e.Subject, &e.Before, &e.After)
		return e, err
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}
