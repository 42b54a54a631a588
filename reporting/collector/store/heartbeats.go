package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
)

// RecordHeartbeat stores a heartbeat and updates the practice's last
// heartbeat time. With a Nonce it first records it for the practice, and
// returns an error wrapping collector.ErrReplay, storing nothing, if the
// nonce was already recorded.
//
// History is kept at most one heartbeat per practice per clock hour: a
// heartbeat replaces the practice's earlier ones of the same hour, so a
// practice (or a stolen key) sending heartbeats as fast as it can keeps
// one row, and history grows by at most 24 rows per practice per day
// until Prune removes it.
func (db *DB) RecordHeartbeat(ctx context.Context, hb collector.Heartbeat) error {
	return db.inTx(ctx, func(tx handle) error {
		if hb.Nonce != "" {
			_, err := tx.exec(ctx, "INSERT INTO heartbeat_nonces (practice, nonce, seen_at) VALUES (?, ?, ?)",
				hb.Practice, hb.Nonce, db.ts(hb.ReceivedAt))
			if db.isUniqueViolation(err) {
				return fmt.Errorf("heartbeat from %s: %w", hb.Practice, collector.ErrReplay)
			}
			if err != nil {
				return fmt.Errorf("record heartbeat nonce: %w", err)
			}
		}
		// A later heartbeat of this practice already stored (two arriving
		// at once): it stands for this hour.
		var later int
		if err := tx.queryRow(ctx, "SELECT COUNT(*) FROM heartbeats WHERE practice = ? AND received_at >= ?",
			hb.Practice, db.ts(hb.ReceivedAt)).Scan(&later); err != nil {
			return fmt.Errorf("record heartbeat: %w", err)
		}
		if later > 0 {
			return nil
		}
		if _, err := tx.exec(ctx, "DELETE FROM heartbeats WHERE practice = ? AND received_at >= ? AND received_at < ?",
			hb.Practice, db.ts(hb.ReceivedAt.Truncate(time.Hour)), db.ts(hb.ReceivedAt)); err != nil {
			return fmt.Errorf("record heartbeat: %w", err)
		}
		if _, err := tx.exec(ctx, "INSERT INTO heartbeats (practice, received_at, agent_version, bundle_version, pending, body) VALUES (?, ?, ?, ?, ?, ?)",
			hb.Practice, db.ts(hb.ReceivedAt), hb.AgentVersion, hb.BundleVersion, hb.Pending, hb.Body); err != nil {
			return fmt.Errorf("record heartbeat: %w", err)
		}
		if _, err := tx.exec(ctx, "UPDATE practices SET last_heartbeat_at = ? WHERE ods = ? AND (last_heartbeat_at IS NULL OR last_heartbeat_at < ?)",
			db.ts(hb.ReceivedAt), hb.Practice, db.ts(hb.ReceivedAt)); err != nil {
			return fmt.Errorf("record heartbeat: %w", err)
		}
		return nil
	})
}

// HeartbeatHistory returns a practice's stored heartbeats, oldest first.
func (db *DB) HeartbeatHistory(ctx context.Context, practice string) ([]collector.Heartbeat, error) {
	out, err := queryAll(ctx, db.r, "SELECT practice, received_at, agent_version, bundle_version, pending, body FROM heartbeats WHERE practice = ? ORDER BY received_at, id",
		scanHeartbeat, practice)
	if err != nil {
		return nil, fmt.Errorf("read heartbeats: %w", err)
	}
	return out, nil
}

func scanHeartbeat(rows *sql.Rows) (collector.Heartbeat, error) {
	var h collector.Heartbeat
	var pending int64
	err := rows.Scan(&h.Practice, timeScan{&h.ReceivedAt}, &h.AgentVersion, &h.BundleVersion, &pending, &h.Body)
	h.Pending = int(pending)
	return h, err
}

// LastHeartbeats returns the latest heartbeat of each practice (of icb, or
// all when icb is "") that has sent one, keyed by ODS code.
func (db *DB) LastHeartbeats(ctx context.Context, icb string) (map[string]collector.Heartbeat, error) {
	query := `SELECT h.practice, h.received_at, h.agent_version, h.bundle_version, h.pending, h.body
	FROM heartbeats h JOIN practices p ON p.ods = h.practice AND h.received_at = p.last_heartbeat_at`
	var args []any
	if icb != "" {
		query += " WHERE p.icb = ?"
		args = append(args, icb)
	}
	out := map[string]collector.Heartbeat{}
	err := db.r.queryEach(ctx, query+" ORDER BY h.practice, h.id", func(rows *sql.Rows) error {
		h, err := scanHeartbeat(rows)
		if err == nil {
			out[h.Practice] = h
		}
		return err
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("read heartbeats: %w", err)
	}
	return out, nil
}

// SilentPractices lists enrolled practices (of icb, or all when icb is "")
// whose last heartbeat is older than silentFor at now, or that never sent
// one, by ODS code.
func (db *DB) SilentPractices(ctx context.Context, icb string, silentFor time.Duration, now time.Time) ([]collector.SilentPractice, error) {
	query := "SELECT " + practiceCols + ", last_heartbeat_at FROM practices WHERE enrolled_at IS NOT NULL AND (last_heartbeat_at IS NULL OR last_heartbeat_at < ?)"
	args := []any{db.ts(now.Add(-silentFor))}
	if icb != "" {
		query += " AND icb = ?"
		args = append(args, icb)
	}
	out, err := queryAll(ctx, db.r, query+" ORDER BY ods", func(rows *sql.Rows) (collector.SilentPractice, error) {
		var s collector.SilentPractice
		p := &s.Practice
		err := rows.Scan(&p.ODS, &p.Name, &p.ICB, &p.PCN, timeScan{&p.CreatedAt}, &p.PublicKey, &p.KeyID, timeScan{&p.EnrolledAt}, timeScan{&s.LastHeartbeat})
		return s, err
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("list silent practices: %w", err)
	}
	return out, nil
}
