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

const practiceCols = "ods, name, icb, pcn, created_at, public_key, key_id, enrolled_at"

func scanPractice(s interface{ Scan(...any) error }, p *collector.Practice) error {
	return s.Scan(&p.ODS, &p.Name, &p.ICB, &p.PCN, timeScan{&p.CreatedAt}, &p.PublicKey, &p.KeyID, timeScan{&p.EnrolledAt})
}

// AddPractice adds a practice (ErrExists if its ODS code is taken) and
// records it in the audit log as done by actor.
func (db *DB) AddPractice(ctx context.Context, p collector.Practice, actor string) error {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now()
	}
	return db.inTx(ctx, func(tx handle) error {
		_, err := tx.exec(ctx, "INSERT INTO practices (ods, name, icb, pcn, created_at) VALUES (?, ?, ?, ?, ?)",
			p.ODS, p.Name, p.ICB, p.PCN, db.ts(p.CreatedAt))
		if db.isUniqueViolation(err) {
			return fmt.Errorf("practice %s: %w", p.ODS, collector.ErrExists)
		}
		if err != nil {
			return fmt.Errorf("add practice %s: %w", p.ODS, err)
		}
		after, _ := json.Marshal(map[string]string{"ods": p.ODS, "name": p.Name, "icb": p.ICB, "pcn": p.PCN})
		return db.appendAudit(ctx, tx, collector.AuditEntry{At: p.CreatedAt, Actor: actor, Action: "practice.add", Subject: p.ODS, After: string(after)})
	})
}

// Practice returns the practice with ODS code ods (ErrNotFound if none).
func (db *DB) Practice(ctx context.Context, ods string) (collector.Practice, error) {
	var p collector.Practice
	err := scanPractice(db.r.queryRow(ctx, "SELECT "+practiceCols+" FROM practices WHERE ods = ?", ods), &p)
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("practice %s: %w", ods, collector.ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("read practice %s: %w", ods, err)
	}
	return p, nil
}

// Practices lists the practices of icb by ODS code; icb "" lists all.
func (db *DB) Practices(ctx context.Context, icb string) ([]collector.Practice, error) {
	query, args := "SELECT "+practiceCols+" FROM practices ORDER BY ods", []any(nil)
	if icb != "" {
		query, args = "SELECT "+practiceCols+" FROM practices WHERE icb = ? ORDER BY ods", []any{icb}
	}
	out, err := queryAll(ctx, db.r, query, func(rows *sql.Rows) (collector.Practice, error) {
		var p collector.Practice
		err := scanPractice(rows, &p)
		return p, err
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("list practices: %w", err)
	}
	return out, nil
}

// AddEnrolmentCode stores the hash of a one-time enrolment code for
// practice ods, valid until expires.
func (db *DB) AddEnrolmentCode(ctx context.Context, ods, codeHash string, created, expires time.Time, actor string) error {
	return db.inTx(ctx, func(tx handle) error {
		_, err := tx.exec(ctx, "INSERT INTO enrolment_codes (code_hash, practice, created_at, expires_at) VALUES (?, ?, ?, ?)",
			codeHash, ods, db.ts(created), db.ts(expires))
		if err != nil {
			return fmt.Errorf("add enrolment code for %s: %w", ods, err)
		}
		after, _ := json.Marshal(map[string]string{"expires_at": expires.UTC().Format(time.RFC3339)})
		return db.appendAudit(ctx, tx, collector.AuditEntry{At: created, Actor: actor, Action: "practice.enrolment_code", Subject: ods, After: string(after)})
	})
}

// Enrol uses the enrolment code with hash codeHash to register pub as the
// agent key of practice ods. The code must exist, be for ods, be unexpired
// at now and unused; it is then marked used. Any failure to meet those wraps
// collector.ErrEnrolRefused with the reason (for the log, not the caller).
// Enrolling again with a new code replaces the key.
func (db *DB) Enrol(ctx context.Context, ods, codeHash string, pub []byte, keyID string, now time.Time) (collector.Practice, error) {
	var p collector.Practice
	err := db.inTx(ctx, func(tx handle) error {
		var forPractice string
		var expires, used time.Time
		err := tx.queryRow(ctx, "SELECT practice, expires_at, used_at FROM enrolment_codes WHERE code_hash = ?", codeHash).
			Scan(&forPractice, timeScan{&expires}, timeScan{&used})
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("%w: unknown code", collector.ErrEnrolRefused)
		case err != nil:
			return fmt.Errorf("read enrolment code: %w", err)
		case forPractice != ods:
			return fmt.Errorf("%w: code was issued for another practice", collector.ErrEnrolRefused)
		case !used.IsZero():
			// The same key enrolled again with its own code is an agent
			// retrying after the answer was lost (or its files could not be
			// written): answer as before, change nothing. Anyone else gets
			// the refusal (only the holder of the private key can use it).
			var current string
			if err := tx.queryRow(ctx, "SELECT key_id FROM practices WHERE ods = ?", ods).Scan(&current); err == nil &&
				current == keyID && now.Before(expires) {
				p, err = db.practiceTx(ctx, tx, ods)
				return err
			}
			return fmt.Errorf("%w: code was already used at %s", collector.ErrEnrolRefused, used.Format(time.RFC3339))
		case !now.Before(expires):
			return fmt.Errorf("%w: code expired at %s", collector.ErrEnrolRefused, expires.Format(time.RFC3339))
		}
		res, err := tx.exec(ctx, "UPDATE enrolment_codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL", db.ts(now), codeHash)
		if err != nil {
			return fmt.Errorf("use enrolment code: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("%w: code was already used", collector.ErrEnrolRefused)
		}
		before, err := db.practiceTx(ctx, tx, ods)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "UPDATE practices SET public_key = ?, key_id = ?, enrolled_at = ? WHERE ods = ?",
			pub, keyID, db.ts(now), ods); err != nil {
			return fmt.Errorf("store practice key: %w", err)
		}
		if p, err = db.practiceTx(ctx, tx, ods); err != nil {
			return err
		}
		b, _ := json.Marshal(map[string]string{"key_id": before.KeyID})
		a, _ := json.Marshal(map[string]string{"key_id": keyID})
		return db.appendAudit(ctx, tx, collector.AuditEntry{At: now, Actor: "practice:" + ods, Action: "practice.enrol", Subject: ods, Before: string(b), After: string(a)})
	})
	return p, err
}

func (db *DB) practiceTx(ctx context.Context, tx handle, ods string) (collector.Practice, error) {
	var p collector.Practice
	err := scanPractice(tx.queryRow(ctx, "SELECT "+practiceCols+" FROM practices WHERE ods = ?", ods), &p)
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("practice %s: %w", ods, collector.ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("read practice %s: %w", ods, err)
	}
	return p, nil
}
