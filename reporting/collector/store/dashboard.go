package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/nhs-steward/steward/reporting/collector"
)

// The dashboard's ICB-wide reads: every practice's figures at once, for
// the ICB view's funnel plots, rankings and run chart, and the stored
// results documents' disclosure-controlled strata for the equity view.
// They read the tables the submission path writes and add no schema.

// ICBMeasureRows returns the current rows of the given measures of pack
// for every practice of icb (every practice when icb is ""), across all
// as-of dates, ordered by as-of date and practice.
func (db *DB) ICBMeasureRows(ctx context.Context, pack, icb string, measureIDs []string) ([]collector.MeasureRow, error) {
	if len(measureIDs) == 0 {
		return nil, nil
	}
	tail := "WHERE s.pack = ? AND s.state = 'current'"
	args := []any{pack}
	if icb != "" {
		tail += " AND s.practice IN (SELECT ods FROM practices WHERE icb = ?)"
		args = append(args, icb)
	}
	tail += " AND m.measure_id IN (?" + strings.Repeat(", ?", len(measureIDs)-1) + ") ORDER BY s.as_of, s.practice, m.measure_id"
	for _, id := range measureIDs {
		args = append(args, id)
	}
	return db.measureRows(ctx, db.r, tail, args...)
}

// StoredDocument is a current submission's raw results document.
type StoredDocument struct {
	Practice string
	Body     []byte
}

// ICBDocuments returns the current results documents of pack at asOf of
// every practice of icb (every practice when icb is ""), ordered by
// practice: the equity view reads their strata.
func (db *DB) ICBDocuments(ctx context.Context, pack, icb, asOf string) ([]StoredDocument, error) {
	query := "SELECT s.practice, b.body FROM submissions s JOIN submission_bodies b ON b.submission_id = s.id WHERE s.pack = ? AND s.as_of = ? AND s.state = 'current'"
	args := []any{pack, asOf}
	if icb != "" {
		query += " AND s.practice IN (SELECT ods FROM practices WHERE icb = ?)"
		args = append(args, icb)
	}
	out, err := queryAll(ctx, db.r, query+" ORDER BY s.practice", func(rows *sql.Rows) (StoredDocument, error) {
		var d StoredDocument
		err := rows.Scan(&d.Practice, &d.Body)
		return d, err
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("read results documents: %w", err)
	}
	return out, nil
}
