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

// LockLogin refuses sign-ins for subject ("user:NAME" or "address:IP")
// until until, after failures failed attempts, and records it in the
// audit log (action login.lockout) as done by the collector. A lockout
// already in force is extended.
func (db *DB) LockLogin(ctx context.Context, subject string, until time.Time, failures int, now time.Time) error {
	return db.inTx(ctx, func(tx handle) error {
		_, err := tx.exec(ctx, `INSERT INTO login_lockouts (subject, locked_at, locked_until, failures) VALUES (?, ?, ?, ?)
ON CONFLICT (subject) DO UPDATE SET locked_at = excluded.locked_at, locked_until = excluded.locked_until, failures = excluded.failures`,
			subject, db.ts(now), db.ts(until), failures)
		if err != nil {
			return fmt.Errorf("lock sign-in for %s: %w", subject, err)
		}
		after, _ := json.Marshal(map[string]any{"until": until.UTC().Format(time.RFC3339), "failures": failures})
		return db.appendAudit(ctx, tx, collector.AuditEntry{At: now, Actor: "collector", Action: "login.lockout", Subject: subject, After: string(after)})
	})
}

// LoginLockedUntil returns the latest end of a lockout in force at now
// for any of subjects, or the zero time when none is locked.
func (db *DB) LoginLockedUntil(ctx context.Context, subjects []string, now time.Time) (time.Time, error) {
	if len(subjects) == 0 {
		return time.Time{}, nil
	}
	args := []any{db.ts(now)}
	for _, s := range subjects {
		args = append(args, s)
	}
	var until time.Time
	err := db.r.queryRow(ctx, "SELECT MAX(locked_until) FROM login_lockouts WHERE locked_until > ? AND subject IN (?"+
		strings.Repeat(", ?", len(subjects)-1)+")", args...).Scan(timeScan{&until})
	if err != nil {
		return time.Time{}, fmt.Errorf("read sign-in lockouts: %w", err)
	}
	return until, nil
}

// LoginLockouts lists the lockouts in force at now, by subject.
func (db *DB) LoginLockouts(ctx context.Context, now time.Time) ([]collector.Lockout, error) {
	out, err := queryAll(ctx, db.r, "SELECT subject, locked_at, locked_until, failures FROM login_lockouts WHERE locked_until > ? ORDER BY subject", func(rows *sql.Rows) (collector.Lockout, error) {
		var l collector.Lockout
		var failures int64
		err := rows.Scan(&l.Subject, timeScan{&l.LockedAt}, timeScan{&l.Until}, &failures)
		l.Failures = int(failures)
		return l, err
	}, db.ts(now))
	if err != nil {
		return nil, fmt.Errorf("list sign-in lockouts: %w", err)
	}
	return out, nil
}

// UnlockLogin ends subject's lockout and records it in the audit log as
// done by actor; it reports whether there was one in force.
func (db *DB) UnlockLogin(ctx context.Context, subject, actor string, now time.Time) (bool, error) {
	var ended bool
	err := db.inTx(ctx, func(tx handle) error {
		res, err := tx.exec(ctx, "DELETE FROM login_lockouts WHERE subject = ? AND locked_until > ?", subject, db.ts(now))
		if err != nil {
			return fmt.Errorf("unlock %s: %w", subject, err)
		}
		n, _ := res.RowsAffected()
		if ended = n > 0; !ended {
			return nil
		}
		return db.appendAudit(ctx, tx, collector.AuditEntry{At: now, Actor: actor, Action: "login.unlock", Subject: subject})
	})
	return ended, err
}

// RotateAPIToken ends every API token of the user called name and stores
// the hash of a new one expiring at expires, recording it in the audit log
// as done by actor (never the token).
func (db *DB) RotateAPIToken(ctx context.Context, name, tokenHash string, created, expires time.Time, actor string) (collector.User, error) {
	var u collector.User
	err := db.inTx(ctx, func(tx handle) error {
		err := scanUser(tx.queryRow(ctx, "SELECT "+userCols+" FROM users WHERE name = ?", name), &u)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("user %s: %w", name, collector.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("read user %s: %w", name, err)
		}
		res, err := tx.exec(ctx, "DELETE FROM api_tokens WHERE user_id = ?", u.ID)
		if err != nil {
			return fmt.Errorf("end tokens of %s: %w", name, err)
		}
		ended, _ := res.RowsAffected()
		if _, err := tx.exec(ctx, "INSERT INTO api_tokens (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
			tokenHash, u.ID, db.ts(created), db.ts(expires)); err != nil {
			return fmt.Errorf("add api token: %w", err)
		}
		after, _ := json.Marshal(map[string]any{"expires": expires.UTC().Format(time.RFC3339), "tokens_ended": ended})
		return db.appendAudit(ctx, tx, collector.AuditEntry{At: created, Actor: actor, Action: "user.token_rotate", Subject: "user:" + name, After: string(after)})
	})
	return u, err
}

// TokenExpiries returns, for each user with an API token, the latest
// expiry of their tokens (the zero time for a token that never expires).
func (db *DB) TokenExpiries(ctx context.Context) (map[int64]time.Time, error) {
	out := map[int64]time.Time{}
	never := map[int64]bool{}
	err := db.r.queryEach(ctx, "SELECT user_id, expires_at FROM api_tokens", func(rows *sql.Rows) error {
		var id int64
		var exp time.Time
		if err := rows.Scan(&id, timeScan{&exp}); err != nil {
			return err
		}
		switch {
		case exp.IsZero():
			never[id] = true
		case exp.After(out[id]):
			out[id] = exp
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read api tokens: %w", err)
	}
	for id := range never {
		out[id] = time.Time{}
	}
	return out, nil
}
