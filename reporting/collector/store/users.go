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

const userCols = "id, name, role, icb, password_hash, created_at, disabled, practice, sign_off"

func scanUser(s interface{ Scan(...any) error }, u *collector.User) error {
	var role, signOff string
	err := s.Scan(&u.ID, &u.Name, &role, &u.ICB, &u.PasswordHash, timeScan{&u.CreatedAt}, &u.Disabled, &u.Practice, &signOff)
	u.Role = collector.Role(role)
	u.SignOff = splitRoles(signOff)
	return err
}

// AddUser adds u (ErrExists if the name is taken) and returns it with its
// id. The audit log records it as done by actor, without the password hash.
func (db *DB) AddUser(ctx context.Context, u collector.User, actor string) (collector.User, error) {
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now()
	}
	err := db.inTx(ctx, func(tx handle) error {
		err := tx.queryRow(ctx, "INSERT INTO users (name, role, icb, password_hash, created_at, disabled, practice, sign_off) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
			u.Name, string(u.Role), u.ICB, u.PasswordHash, db.ts(u.CreatedAt), u.Disabled, u.Practice, strings.Join(u.SignOff, ",")).Scan(&u.ID)
		if db.isUniqueViolation(err) {
			return fmt.Errorf("user %s: %w", u.Name, collector.ErrExists)
		}
		if err != nil {
			return fmt.Errorf("add user %s: %w", u.Name, err)
		}
		after, _ := json.Marshal(map[string]string{"name": u.Name, "role": string(u.Role), "icb": u.ICB,
			"practice": u.Practice, "sign_off": strings.Join(u.SignOff, ",")})
		return db.appendAudit(ctx, tx, collector.AuditEntry{At: u.CreatedAt, Actor: actor, Action: "user.add", Subject: "user:" + u.Name, After: string(after)})
	})
	return u, err
}

func (db *DB) oneUser(ctx context.Context, what, query string, args ...any) (collector.User, error) {
	var u collector.User
	err := scanUser(db.r.queryRow(ctx, query, args...), &u)
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %s: %w", what, collector.ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("read user %s: %w", what, err)
	}
	return u, nil
}

// UserByName returns the user called name.
func (db *DB) UserByName(ctx context.Context, name string) (collector.User, error) {
	return db.oneUser(ctx, name, "SELECT "+userCols+" FROM users WHERE name = ?", name)
}

// UserByID returns the user with id.
func (db *DB) UserByID(ctx context.Context, id int64) (collector.User, error) {
	return db.oneUser(ctx, fmt.Sprint(id), "SELECT "+userCols+" FROM users WHERE id = ?", id)
}

// Users lists every user by name.
func (db *DB) Users(ctx context.Context) ([]collector.User, error) {
	out, err := queryAll(ctx, db.r, "SELECT "+userCols+" FROM users ORDER BY name", func(rows *sql.Rows) (collector.User, error) {
		var u collector.User
		err := scanUser(rows, &u)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// AddAPIToken stores the hash of an API token for user id; expires may be
// zero (no expiry).
func (db *DB) AddAPIToken(ctx context.Context, userID int64, tokenHash string, created, expires time.Time) error {
	_, err := db.w.exec(ctx, "INSERT INTO api_tokens (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
		tokenHash, userID, db.ts(created), db.ts(expires))
	if err != nil {
		return fmt.Errorf("add api token: %w", err)
	}
	return nil
}

// UserByToken returns the enabled user owning the unexpired API token with
// hash tokenHash (ErrNotFound otherwise).
func (db *DB) UserByToken(ctx context.Context, tokenHash string, now time.Time) (collector.User, error) {
	return db.oneUser(ctx, "by token",
		"SELECT u.id, u.name, u.role, u.icb, u.password_hash, u.created_at, u.disabled, u.practice, u.sign_off FROM api_tokens t JOIN users u ON u.id = t.user_id"+
			" WHERE t.token_hash = ? AND (t.expires_at IS NULL OR t.expires_at > ?) AND u.disabled = ?",
		tokenHash, db.ts(now), false)
}

// CreateSession stores a session under the hash of its id.
func (db *DB) CreateSession(ctx context.Context, idHash string, s collector.Session) error {
	_, err := db.w.exec(ctx, "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
		idHash, s.UserID, s.CSRFToken, db.ts(s.CreatedAt), db.ts(s.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// Session returns the unexpired session with id hash idHash and its enabled
// user (ErrNotFound otherwise).
func (db *DB) Session(ctx context.Context, idHash string, now time.Time) (collector.Session, collector.User, error) {
	var s collector.Session
	var u collector.User
	var role, signOff string
	err := db.r.queryRow(ctx,
		"SELECT s.user_id, s.csrf_token, s.created_at, s.expires_at, u.id, u.name, u.role, u.icb, u.password_hash, u.created_at, u.disabled, u.practice, u.sign_off"+
			" FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ? AND s.expires_at > ? AND u.disabled = ?",
		idHash, db.ts(now), false).Scan(&s.UserID, &s.CSRFToken, timeScan{&s.CreatedAt}, timeScan{&s.ExpiresAt},
		&u.ID, &u.Name, &role, &u.ICB, &u.PasswordHash, timeScan{&u.CreatedAt}, &u.Disabled, &u.Practice, &signOff)
	u.Role = collector.Role(role)
	u.SignOff = splitRoles(signOff)
	if errors.Is(err, sql.ErrNoRows) {
		return s, u, fmt.Errorf("session: %w", collector.ErrNotFound)
	}
	if err != nil {
		return s, u, fmt.Errorf("read session: %w", err)
	}
	return s, u, nil
}

// DeleteSession ends a session.
func (db *DB) DeleteSession(ctx context.Context, idHash string) error {
	if _, err := db.w.exec(ctx, "DELETE FROM sessions WHERE id_hash = ?", idHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions expired at now and returns how
// many.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := db.w.exec(ctx, "DELETE FROM sessions WHERE expires_at <= ?", db.ts(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// splitRoles splits a stored comma-separated list of sign-off roles.
func splitRoles(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// UserChange is a change to a user: nil fields stay as they are.
type UserChange struct {
	SignOff      *[]string
	Disabled     *bool
	PasswordHash *string // a new password; the user's sessions end
}

// ChangeUser applies c to the user called name (ErrNotFound if none) and
// records it in the audit log as done by actor. A disabled user's
// sessions and tokens stop working at once (every lookup checks).
func (db *DB) ChangeUser(ctx context.Context, name string, c UserChange, actor string, now time.Time) (collector.User, error) {
	var u collector.User
	err := db.inTx(ctx, func(tx handle) error {
		err := scanUser(tx.queryRow(ctx, "SELECT "+userCols+" FROM users WHERE name = ?", name), &u)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("user %s: %w", name, collector.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("read user %s: %w", name, err)
		}
		before, _ := json.Marshal(map[string]any{"sign_off": strings.Join(u.SignOff, ","), "disabled": u.Disabled})
		if c.SignOff != nil {
			u.SignOff = *c.SignOff
		}
		if c.Disabled != nil {
			u.Disabled = *c.Disabled
		}
		if c.PasswordHash != nil {
			u.PasswordHash = *c.PasswordHash
			if _, err := tx.exec(ctx, "DELETE FROM sessions WHERE user_id = ?", u.ID); err != nil {
				return fmt.Errorf("end sessions of %s: %w", name, err)
			}
		}
		if _, err := tx.exec(ctx, "UPDATE users SET sign_off = ?, disabled = ?, password_hash = ? WHERE id = ?",
			strings.Join(u.SignOff, ","), u.Disabled, u.PasswordHash, u.ID); err != nil {
			return fmt.Errorf("change user %s: %w", name, err)
		}
		after, _ := json.Marshal(map[string]any{"sign_off": strings.Join(u.SignOff, ","), "disabled": u.Disabled,
			"password_changed": c.PasswordHash != nil})
		return db.appendAudit(ctx, tx, collector.AuditEntry{At: now, Actor: actor, Action: "user.change", Subject: "user:" + name,
			Before: string(before), After: string(after)})
	})
	return u, err
}
