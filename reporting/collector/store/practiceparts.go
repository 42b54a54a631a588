package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nhs-steward/steward/reporting/schemes"
)

// PracticePart is one practice's part of a stored calculation: its
// PracticeResult (package schemes) as JSON, without its claim state.
type PracticePart struct {
	Practice string
	Result   []byte
}

// partRows is how many practices' parts go in one INSERT: 4 bind values
// each, well within both engines' limits.
const partRows = 500

// savePracticeParts stores c's practices' parts inside tx, replacing the
// period's previous ones: a part that did not change is not written again,
// and practices no longer in the result lose theirs.
func (db *DB) savePracticeParts(ctx context.Context, tx handle, c Calculation, first bool) error {
	parts := c.Practices
	if parts == nil {
		var err error
		if parts, err = partsOf(c.Result); err != nil {
			return fmt.Errorf("calculation of %s %s: %w", c.Scheme, c.Period, err)
		}
	}
	if !first {
		keep := make(map[string]bool, len(parts))
		for _, p := range parts {
			keep[p.Practice] = true
		}
		var gone []any
		err := tx.queryEach(ctx, "SELECT practice FROM reconciliation_practices WHERE scheme = ? AND period = ?", func(rows *sql.Rows) error {
			var ods string
			if err := rows.Scan(&ods); err != nil {
				return err
			}
			if !keep[ods] {
				gone = append(gone, ods)
			}
			return nil
		}, c.Scheme, c.Period)
		if err != nil {
			return fmt.Errorf("read practices of %s %s: %w", c.Scheme, c.Period, err)
		}
		for len(gone) > 0 {
			n := min(len(gone), partRows)
			args := append([]any{c.Scheme, c.Period}, gone[:n]...)
			if _, err := tx.exec(ctx, "DELETE FROM reconciliation_practices WHERE scheme = ? AND period = ? AND practice IN (?"+
				strings.Repeat(", ?", n-1)+")", args...); err != nil {
				return fmt.Errorf("save practices of %s %s: %w", c.Scheme, c.Period, err)
			}
			gone = gone[n:]
		}
	}
	upsert := ""
	if !first {
		upsert = " ON CONFLICT (scheme, period, practice) DO UPDATE SET result = excluded.result WHERE reconciliation_practices.result <> excluded.result"
	}
	if db.engine == Postgres {
		// One statement of two arrays: rows of VALUES with four bind
		// values each cost PostgreSQL five times as much to parse and bind
		// as to store (6,500 practices x 24 periods).
		ods := make([]string, len(parts))
		results := make([]string, len(parts))
		for i, p := range parts {
			ods[i], results[i] = p.Practice, string(p.Result)
		}
		if _, err := tx.exec(ctx, `INSERT INTO reconciliation_practices (scheme, period, practice, result)
		SELECT ?, ?, u.practice, u.result FROM unnest(?::text[], ?::text[]) AS u (practice, result)`+upsert,
			c.Scheme, c.Period, ods, results); err != nil {
			return fmt.Errorf("save practices of %s %s: %w", c.Scheme, c.Period, err)
		}
		return nil
	}
	for len(parts) > 0 {
		n := min(len(parts), partRows)
		args := make([]any, 0, 4*n)
		for _, p := range parts[:n] {
			args = append(args, c.Scheme, c.Period, p.Practice, db.text(p.Result))
		}
		if _, err := tx.exec(ctx, "INSERT INTO reconciliation_practices (scheme, period, practice, result) VALUES "+
			placeholders(n, 4)+upsert, args...); err != nil {
			return fmt.Errorf("save practices of %s %s: %w", c.Scheme, c.Period, err)
		}
		parts = parts[n:]
	}
	return nil
}

// partsOf splits a stored result into its practices' parts, for a caller
// that did not give them.
func partsOf(result []byte) ([]PracticePart, error) {
	var r struct{ Practices []json.RawMessage }
	if err := json.Unmarshal(result, &r); err != nil {
		return nil, fmt.Errorf("result is not a reconciliation: %w", err)
	}
	out := make([]PracticePart, 0, len(r.Practices))
	for _, raw := range r.Practices {
		var p struct{ ODS string }
		if err := json.Unmarshal(raw, &p); err != nil || p.ODS == "" {
			return nil, fmt.Errorf("result has a practice without an ODS code")
		}
		out = append(out, PracticePart{Practice: p.ODS, Result: raw})
	}
	return out, nil
}

// PracticeCalculation is one practice's part of a stored calculation with
// its claim.
type PracticeCalculation struct {
	Period  string
	Version int64 // the calculation's
	// Result is the practice's PracticeResult (package schemes) as JSON.
	Result []byte
	// State is the claim's stored state, "" when it has no row (package
	// claims derives it from the result).
	State string
	// PaidPence is what was paid, once the claim is paid.
	PaidPence *int64
}

// PracticeCalculations returns a practice's parts of the latest limit
// calculated periods of scheme, newest first, with its claims, in one
// query that reads that practice's rows only. A period whose calculation
// does not include the practice is left out.
func (db *DB) PracticeCalculations(ctx context.Context, scheme, practice string, limit int) ([]PracticeCalculation, error) {
	out, err := queryAll(ctx, db.r, `SELECT r.period, r.version, rp.result, COALESCE(c.state, ''), c.paid_pence
	FROM (SELECT scheme, period, version FROM reconciliations WHERE scheme = ? ORDER BY period DESC LIMIT ?) r
	JOIN reconciliation_practices rp ON rp.scheme = r.scheme AND rp.period = r.period AND rp.practice = ?
	LEFT JOIN claims c ON c.scheme = r.scheme AND c.period = r.period AND c.practice = ?
	ORDER BY r.period DESC`, func(rows *sql.Rows) (PracticeCalculation, error) {
		var pc PracticeCalculation
		var result string
		var paid sql.NullInt64
		if err := rows.Scan(&pc.Period, &pc.Version, &result, &pc.State, &paid); err != nil {
			return pc, err
		}
		pc.Result = []byte(result)
		if paid.Valid {
			pc.PaidPence = &paid.Int64
		}
		return pc, nil
	}, scheme, limit, practice, practice)
	if err != nil {
		return nil, fmt.Errorf("read %s calculations of %s: %w", scheme, practice, err)
	}
	return out, nil
}

// PracticeClaimEvents returns the histories of one practice's claims in
// the given periods of scheme, by period, each oldest first.
func (db *DB) PracticeClaimEvents(ctx context.Context, scheme, practice string, periods []string) (map[string][]schemes.Event, error) {
	out := map[string][]schemes.Event{}
	if len(periods) == 0 {
		return out, nil
	}
	args := []any{scheme, practice}
	for _, p := range periods {
		args = append(args, p)
	}
	err := db.r.queryEach(ctx, `SELECT id, scheme, period, practice, at, actor, role, from_state, to_state, reason FROM claim_events
	WHERE scheme = ? AND practice = ? AND period IN (?`+strings.Repeat(", ?", len(periods)-1)+") ORDER BY id", func(rows *sql.Rows) error {
		var e schemes.Event
		if err := rows.Scan(&e.ID, &e.Scheme, &e.Period, &e.Practice, timeScan{&e.At}, &e.Actor, &e.Role, &e.From, &e.To, &e.Reason); err != nil {
			return err
		}
		out[e.Period] = append(out[e.Period], e)
		return nil
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("read claim history: %w", err)
	}
	return out, nil
}
