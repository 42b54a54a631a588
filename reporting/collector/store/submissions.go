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

// IngestResult is what Ingest did with a submission.
type IngestResult struct {
	// Submission is the stored submission: the new one, or on a duplicate
	// the original, exactly as first stored. Body and Measures are not
	// loaded.
	Submission collector.Submission
	// Duplicate is true when the same practice, idempotency key and body
	// had already been stored; nothing was written.
	Duplicate bool
}

// Ingest stores a verified submission and its measure rows in one
// transaction, and returns only after that transaction has committed.
//
// The same practice and idempotency key with the same body (BodySHA256) is
// a duplicate: the original is returned with Duplicate set. With a
// different body it is collector.ErrIdempotencyConflict. A new submission
// for a practice, pack and as-of date that already has one supersedes it:
// both are kept and the new one is current.
//
// sub.ReceivedAt is truncated to microseconds, the precision both engines
// store.
func (db *DB) Ingest(ctx context.Context, sub collector.Submission) (IngestResult, error) {
	sub.ReceivedAt = sub.ReceivedAt.UTC().Truncate(time.Microsecond)
	if db.batch != nil {
		return db.ingestBatched(ctx, &sub)
	}
	// PostgreSQL: one transaction per submission, serialised per practice
	// by a row lock. A unique violation means a concurrent transaction won
	// a race the lock did not cover: try again, it will now see that row.
	var res IngestResult
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = db.inTx(ctx, func(tx handle) error {
			var e error
			res, e = db.ingestTx(ctx, tx, &sub)
			return e
		})
		if err == nil || !db.isUniqueViolation(err) {
			break
		}
	}
	return res, err
}

// ingestTx does Ingest's work inside tx.
func (db *DB) ingestTx(ctx context.Context, tx handle, sub *collector.Submission) (IngestResult, error) {
	lock := ""
	if db.engine == Postgres {
		lock = " FOR UPDATE"
	}
	var ods string
	err := tx.queryRow(ctx, "SELECT ods FROM practices WHERE ods = ?"+lock, sub.Practice).Scan(&ods)
	if errors.Is(err, sql.ErrNoRows) {
		return IngestResult{}, fmt.Errorf("practice %s: %w", sub.Practice, collector.ErrNotFound)
	}
	if err != nil {
		return IngestResult{}, fmt.Errorf("lock practice: %w", err)
	}

	var id int64
	var sha string
	err = tx.queryRow(ctx, "SELECT id, body_sha256 FROM submissions WHERE practice = ? AND idempotency_key = ?",
		sub.Practice, sub.IdempotencyKey).Scan(&id, &sha)
	switch {
	case err == nil:
		if sha != sub.BodySHA256 {
			return IngestResult{}, fmt.Errorf("submission %s from %s: %w", sub.IdempotencyKey, sub.Practice, collector.ErrIdempotencyConflict)
		}
		orig, err := db.submissionByID(ctx, tx, id, false)
		return IngestResult{Submission: orig, Duplicate: true}, err
	case !errors.Is(err, sql.ErrNoRows):
		return IngestResult{}, fmt.Errorf("look up idempotency key: %w", err)
	}

	var prevID int64
	var prevKey, prevGenerated string
	err = tx.queryRow(ctx, "SELECT id, idempotency_key, generated_at FROM submissions WHERE practice = ? AND pack = ? AND as_of = ? AND state = 'current'",
		sub.Practice, sub.Pack, sub.AsOf).Scan(&prevID, &prevKey, &prevGenerated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return IngestResult{}, fmt.Errorf("look up current submission: %w", err)
	}
	// A document older than the current one (by its own generation time)
	// that arrives late is kept, but superseded from the start: the newer
	// figures stay current. A correction names what it replaces and always
	// becomes current, whatever the clocks said.
	state := "current"
	if prevID != 0 && sub.Corrects == "" && Older(sub.GeneratedAt, prevGenerated) {
		state = "superseded"
	}
	if prevID != 0 && state == "current" {
		if _, err := tx.exec(ctx, "UPDATE submissions SET state = 'superseded' WHERE id = ?", prevID); err != nil {
			return IngestResult{}, fmt.Errorf("supersede submission: %w", err)
		}
	}
	var supersedes any
	if prevID != 0 && state == "current" {
		supersedes = prevID
	}
	var supersededBy any
	if state == "superseded" {
		supersededBy = prevID
	}
	err = tx.queryRow(ctx, `INSERT INTO submissions (practice, idempotency_key, body_sha256, signature, key_id, signed_at,
	received_at, pack, pack_version, as_of, baseline, agent_version, state, supersedes_id, superseded_by_id, generated_at, corrects, correction_reason)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		sub.Practice, sub.IdempotencyKey, sub.BodySHA256, sub.Signature, sub.KeyID, sub.SignedAt,
		db.ts(sub.ReceivedAt), sub.Pack, sub.PackVersion, sub.AsOf, sub.Baseline, sub.AgentVersion, state, supersedes, supersededBy,
		sub.GeneratedAt, sub.Corrects, sub.CorrectionReason).Scan(&id)
	if err != nil {
		return IngestResult{}, fmt.Errorf("insert submission: %w", err)
	}
	// The body is kept apart, so that no query listing submissions or
	// their measures reads bodies of kilobytes to get at a few columns.
	if _, err := tx.exec(ctx, "INSERT INTO submission_bodies (submission_id, body) VALUES (?, ?)", id, sub.Body); err != nil {
		return IngestResult{}, fmt.Errorf("insert submission body: %w", err)
	}
	subject := sub.Practice + "/" + sub.Pack + "/" + sub.AsOf
	switch {
	case state == "superseded":
		after, _ := json.Marshal(map[string]string{"current": prevKey, "late": sub.IdempotencyKey,
			"late_generated_at": sub.GeneratedAt, "current_generated_at": prevGenerated})
		if err := db.appendAudit(ctx, tx, collector.AuditEntry{At: sub.ReceivedAt, Actor: "practice:" + sub.Practice, Action: "submission.late",
			Subject: subject, After: string(after)}); err != nil {
			return IngestResult{}, err
		}
	case prevID != 0:
		if _, err := tx.exec(ctx, "UPDATE submissions SET superseded_by_id = ? WHERE id = ?", id, prevID); err != nil {
			return IngestResult{}, fmt.Errorf("link superseded submission: %w", err)
		}
		before, _ := json.Marshal(map[string]string{"current": prevKey})
		a := map[string]string{"current": sub.IdempotencyKey}
		action := "submission.supersede"
		if sub.Corrects != "" {
			a["corrects"], a["reason"] = sub.Corrects, sub.CorrectionReason
			action = "submission.correct"
		}
		after, _ := json.Marshal(a)
		if err := db.appendAudit(ctx, tx, collector.AuditEntry{At: sub.ReceivedAt, Actor: "practice:" + sub.Practice, Action: action,
			Subject: subject, Before: string(before), After: string(after)}); err != nil {
			return IngestResult{}, err
		}
	}
	if len(sub.Measures) > 0 {
		var b strings.Builder
		b.WriteString("INSERT INTO measure_rows (submission_id, measure_id, kind, numerator, denominator, per, value, suppressed) VALUES ")
		args := make([]any, 0, 8*len(sub.Measures))
		for i, m := range sub.Measures {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, id, m.MeasureID, m.Kind, m.Numerator, m.Denominator, m.Per, m.Value, m.Suppressed)
		}
		if _, err := tx.exec(ctx, b.String(), args...); err != nil {
			return IngestResult{}, fmt.Errorf("insert measure rows: %w", err)
		}
	}
	stored := *sub
	stored.ID = id
	if state == "current" {
		stored.Supersedes = prevKey
	} else {
		stored.SupersededBy = prevKey
	}
	stored.Body, stored.Measures = nil, nil
	return IngestResult{Submission: stored}, nil
}

const submissionCols = `s.id, s.practice, s.idempotency_key, s.body_sha256, s.signature, s.key_id, s.signed_at, s.received_at,
	s.pack, s.pack_version, s.as_of, s.baseline, s.agent_version, COALESCE(p.idempotency_key, ''), COALESCE(n.idempotency_key, ''),
	s.generated_at, s.corrects, s.correction_reason`

const submissionFrom = ` FROM submissions s
	LEFT JOIN submissions p ON p.id = s.supersedes_id
	LEFT JOIN submissions n ON n.id = s.superseded_by_id`

func scanSubmission(s interface{ Scan(...any) error }, sub *collector.Submission) error {
	return s.Scan(&sub.ID, &sub.Practice, &sub.IdempotencyKey, &sub.BodySHA256, &sub.Signature, &sub.KeyID, &sub.SignedAt,
		timeScan{&sub.ReceivedAt}, &sub.Pack, &sub.PackVersion, dateScan{&sub.AsOf}, &sub.Baseline, &sub.AgentVersion, &sub.Supersedes, &sub.SupersededBy,
		&sub.GeneratedAt, &sub.Corrects, &sub.CorrectionReason)
}

func (db *DB) submissionByID(ctx context.Context, q handle, id int64, full bool) (collector.Submission, error) {
	var sub collector.Submission
	err := scanSubmission(q.queryRow(ctx, "SELECT "+submissionCols+submissionFrom+" WHERE s.id = ?", id), &sub)
	if errors.Is(err, sql.ErrNoRows) {
		return sub, fmt.Errorf("submission %d: %w", id, collector.ErrNotFound)
	}
	if err != nil {
		return sub, fmt.Errorf("read submission %d: %w", id, err)
	}
	if !full {
		return sub, nil
	}
	if err := q.queryRow(ctx, "SELECT body FROM submission_bodies WHERE submission_id = ?", id).Scan(&sub.Body); err != nil {
		return sub, fmt.Errorf("read submission body %d: %w", id, err)
	}
	sub.Measures, err = db.measureRows(ctx, q, "WHERE s.id = ? ORDER BY m.measure_id", id)
	return sub, err
}

// Submission returns a practice's submission by idempotency key, with its
// raw body and measure rows, current or superseded.
func (db *DB) Submission(ctx context.Context, practice, key string) (collector.Submission, error) {
	var id int64
	err := db.r.queryRow(ctx, "SELECT id FROM submissions WHERE practice = ? AND idempotency_key = ?", practice, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return collector.Submission{}, fmt.Errorf("submission %s from %s: %w", key, practice, collector.ErrNotFound)
	}
	if err != nil {
		return collector.Submission{}, fmt.Errorf("read submission: %w", err)
	}
	return db.submissionByID(ctx, db.r, id, true)
}

// CurrentSubmission returns the current submission for a practice, pack
// and as-of date, with its body and measure rows (ErrNotFound if none).
func (db *DB) CurrentSubmission(ctx context.Context, practice, pack, asOf string) (collector.Submission, error) {
	var id int64
	err := db.r.queryRow(ctx, "SELECT id FROM submissions WHERE practice = ? AND pack = ? AND as_of = ? AND state = 'current'",
		practice, pack, asOf).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return collector.Submission{}, fmt.Errorf("current submission %s/%s/%s: %w", practice, pack, asOf, collector.ErrNotFound)
	}
	if err != nil {
		return collector.Submission{}, fmt.Errorf("read current submission: %w", err)
	}
	return db.submissionByID(ctx, db.r, id, true)
}

// SubmissionFilter selects submissions; empty fields match everything.
type SubmissionFilter struct {
	ICB      string
	Practice string
	Pack     string
	AsOf     string
}

func (f SubmissionFilter) where(current bool) (string, []any) {
	var conds []string
	var args []any
	if current {
		conds = append(conds, "s.state = 'current'")
	}
	if f.ICB != "" {
		conds = append(conds, "s.practice IN (SELECT ods FROM practices WHERE icb = ?)")
		args = append(args, f.ICB)
	}
	for _, c := range []struct{ col, v string }{{"s.practice", f.Practice}, {"s.pack", f.Pack}, {"s.as_of", f.AsOf}} {
		if c.v != "" {
			conds = append(conds, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func (db *DB) listSubmissions(ctx context.Context, query string, args []any) ([]collector.Submission, error) {
	out, err := queryAll(ctx, db.r, query, func(rows *sql.Rows) (collector.Submission, error) {
		var s collector.Submission
		err := scanSubmission(rows, &s)
		return s, err
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("list submissions: %w", err)
	}
	return out, nil
}

// CurrentSubmissions lists the current (latest) submission of each
// practice, pack and as-of date matching f, ordered by practice, pack and
// as-of date. Bodies and measure rows are not loaded.
func (db *DB) CurrentSubmissions(ctx context.Context, f SubmissionFilter) ([]collector.Submission, error) {
	where, args := f.where(true)
	return db.listSubmissions(ctx, "SELECT "+submissionCols+submissionFrom+where+" ORDER BY s.practice, s.pack, s.as_of", args)
}

// SubmissionHistory lists every submission matching f, superseded ones
// included, for audit: ordered by practice, pack, as-of date and then
// receipt. Bodies and measure rows are not loaded.
func (db *DB) SubmissionHistory(ctx context.Context, f SubmissionFilter) ([]collector.Submission, error) {
	where, args := f.where(false)
	return db.listSubmissions(ctx, "SELECT "+submissionCols+submissionFrom+where+" ORDER BY s.practice, s.pack, s.as_of, s.received_at, s.id", args)
}

const measureCols = `m.submission_id, s.practice, s.pack, s.pack_version, s.as_of, m.measure_id, m.kind,
	m.numerator, m.denominator, m.per, m.value, m.suppressed, s.received_at`

func (db *DB) measureRows(ctx context.Context, q handle, tail string, args ...any) ([]collector.MeasureRow, error) {
	out, err := queryAll(ctx, q, "SELECT "+measureCols+" FROM measure_rows m JOIN submissions s ON s.id = m.submission_id "+tail, func(rows *sql.Rows) (collector.MeasureRow, error) {
		var m collector.MeasureRow
		var num, den, val sql.NullFloat64
		err := rows.Scan(&m.SubmissionID, &m.Practice, &m.Pack, &m.PackVersion, dateScan{&m.AsOf}, &m.MeasureID, &m.Kind,
			&num, &den, &m.Per, &val, &m.Suppressed, timeScan{&m.ReceivedAt})
		m.Numerator, m.Denominator, m.Value = nullFloat(num), nullFloat(den), nullFloat(val)
		return m, err
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("read measure rows: %w", err)
	}
	return out, nil
}

func nullFloat(n sql.NullFloat64) *float64 {
	if !n.Valid {
		return nil
	}
	return &n.Float64
}

// MeasureSeries returns a practice's current rows of one measure of a pack
// across as-of dates, oldest first: the points of a run chart.
func (db *DB) MeasureSeries(ctx context.Context, practice, pack, measureID string) ([]collector.MeasureRow, error) {
	return db.measureRows(ctx, db.r, "WHERE s.practice = ? AND s.pack = ? AND m.measure_id = ? AND s.state = 'current' ORDER BY s.as_of",
		practice, pack, measureID)
}

// CurrentMeasures returns every current measure row of a pack at an as-of
// date across practices (of icb, or all when icb is ""), ordered by
// practice and measure id: what reconciliation reads.
func (db *DB) CurrentMeasures(ctx context.Context, pack, asOf, icb string) ([]collector.MeasureRow, error) {
	if icb == "" {
		return db.measureRows(ctx, db.r, "WHERE s.pack = ? AND s.as_of = ? AND s.state = 'current' ORDER BY s.practice, m.measure_id", pack, asOf)
	}
	return db.measureRows(ctx, db.r, "WHERE s.pack = ? AND s.as_of = ? AND s.state = 'current' AND s.practice IN (SELECT ods FROM practices WHERE icb = ?) ORDER BY s.practice, m.measure_id",
		pack, asOf, icb)
}

// LatestMeasures returns, for each practice (of icb, or all when icb is
// ""), the current rows of the given measures of pack at the practice's
// latest as-of date, ordered by practice and measure: the overview's
// "latest figures".
func (db *DB) LatestMeasures(ctx context.Context, pack, icb string, measureIDs []string) ([]collector.MeasureRow, error) {
	if len(measureIDs) == 0 {
		return nil, nil
	}
	// Each practice's latest as-of date is one index seek: a MAX grouped
	// over every practice's submissions read them all (36 months of 200
	// practices: 7,200 index entries for 200 answers).
	inner := "SELECT p.ods AS practice, (SELECT MAX(x.as_of) FROM submissions x WHERE x.practice = p.ods AND x.pack = ? AND x.state = 'current') AS as_of FROM practices p"
	args := []any{pack}
	if icb != "" {
		inner += " WHERE p.icb = ?"
		args = append(args, icb)
	}
	args = append(args, pack)
	for _, id := range measureIDs {
		args = append(args, id)
	}
	return db.measureRows(ctx, db.r, "JOIN ("+inner+") l ON l.practice = s.practice AND l.as_of = s.as_of"+
		" WHERE s.pack = ? AND s.state = 'current' AND m.measure_id IN (?"+strings.Repeat(", ?", len(measureIDs)-1)+")"+
		" ORDER BY s.practice, m.measure_id", args...)
}

// Older reports whether generation time a is before b. Times that do not
// parse (documents from agents before generation times were recorded)
// order by arrival instead: Older is then false.
func Older(a, b string) bool {
	ta, err1 := time.Parse(time.RFC3339Nano, a)
	tb, err2 := time.Parse(time.RFC3339Nano, b)
	return err1 == nil && err2 == nil && ta.Before(tb)
}
