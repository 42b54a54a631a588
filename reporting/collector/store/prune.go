package store

import (
	"context"
	"fmt"
	"time"
)

// PruneOptions say what Prune deletes.
type PruneOptions struct {
	// Now is the time expiries are compared with.
	Now time.Time
	// HeartbeatsBefore: heartbeats received before it go, except each
	// practice's latest.
	HeartbeatsBefore time.Time
	// NoncesBefore: heartbeat nonces first seen before it go (a heartbeat
	// that old is refused as stale anyway).
	NoncesBefore time.Time
}

// Pruned counts what Prune deleted.
type Pruned struct {
	Heartbeats, Nonces, Sessions, EnrolmentCodes, APITokens, Lockouts int64
}

// Prune deletes what the collector no longer needs: heartbeat history
// before HeartbeatsBefore (keeping each practice's latest), old heartbeat
// nonces, expired sessions, enrolment codes that expired or were used,
// expired API tokens and lockouts that have ended.
func (db *DB) Prune(ctx context.Context, o PruneOptions) (Pruned, error) {
	var p Pruned
	now := db.ts(o.Now)
	steps := []struct {
		what  string
		n     *int64
		query string
		args  []any
	}{
		{"heartbeats", &p.Heartbeats, `DELETE FROM heartbeats WHERE received_at < ? AND NOT EXISTS
	(SELECT 1 FROM practices p WHERE p.ods = heartbeats.practice AND p.last_heartbeat_at = heartbeats.received_at)`, []any{db.ts(o.HeartbeatsBefore)}},
		{"heartbeat nonces", &p.Nonces, "DELETE FROM heartbeat_nonces WHERE seen_at < ?", []any{db.ts(o.NoncesBefore)}},
		{"sessions", &p.Sessions, "DELETE FROM sessions WHERE expires_at <= ?", []any{now}},
		{"enrolment codes", &p.EnrolmentCodes, "DELETE FROM enrolment_codes WHERE expires_at <= ? OR used_at IS NOT NULL", []any{now}},
		{"api tokens", &p.APITokens, "DELETE FROM api_tokens WHERE expires_at <= ?", []any{now}},
		{"lockouts", &p.Lockouts, "DELETE FROM login_lockouts WHERE locked_until <= ?", []any{now}},
	}
	for _, s := range steps {
		if s.args[0] == nil { // a zero time: that step is off
			continue
		}
		res, err := db.w.exec(ctx, s.query, s.args...)
		if err != nil {
			return p, fmt.Errorf("prune %s: %w", s.what, err)
		}
		*s.n, _ = res.RowsAffected()
	}
	return p, nil
}
