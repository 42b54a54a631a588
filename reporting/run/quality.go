package run

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/nhs-steward/steward/searches/compile"
	"github.com/nhs-steward/steward/searches/profile"
)

// Quality is what the practice database says about its own state as of a
// month end, for the agent's data-quality gate: a month computed from a
// half-refreshed or damaged extract is held, not sent.
type Quality struct {
	// Issues counts the medication issues of the three months ending the
	// as-of date, plus every issue whose date could not be read;
	// Unreadable counts those whose date or quantity could not be read
	// (the profile turns an unreadable value into NULL; a layout with no
	// quantities at all misreads none).
	Issues, Unreadable int64
	// Newest is the date of the newest medication issue on or before the
	// as-of date (an extract refreshed before the month ended has none in
	// its last days); zero when there is none.
	Newest time.Time
}

// Quality reads the data-quality figures of the practice database as of
// asOf, in one pass over the medication issues.
func (r *Runner) Quality(ctx context.Context, asOf time.Time) (*Quality, error) {
	b := compile.NewBinder(r.Dialect)
	frag, err := compile.Fragment(r.Profile, r.Dialect, profile.MedicationIssues, b, asOf, r.Practice)
	if err != nil {
		return nil, err
	}
	from, to := b.Date(asOf.AddDate(0, -3, 1)), b.Date(asOf)
	inWindow := "(mi.issue_date >= " + from + " AND mi.issue_date <= " + to + ")"
	// A layout with no quantities at all (emis) has none to misread.
	unreadableQty := " AND mi.quantity IS NULL"
	if r.Profile.Lacks(profile.MedicationIssues, "quantity") {
		unreadableQty = " AND 1 = 0"
	}
	text := "SELECT SUM(CASE WHEN mi.issue_date IS NULL OR " + inWindow + " THEN 1 ELSE 0 END),\n" +
		"       SUM(CASE WHEN mi.issue_date IS NULL OR (" + inWindow + unreadableQty + ") THEN 1 ELSE 0 END),\n" +
		"       MAX(CASE WHEN mi.issue_date <= " + to + " THEN " + r.Dialect.Year("mi.issue_date") + " * 10000 + " + r.Dialect.MonthDay("mi.issue_date") + " END)\n" +
		"FROM (\n" + frag + "\n) AS mi"
	ex, err := b.Finish(text)
	if err != nil {
		return nil, err
	}
	var issues, unreadable, newest sql.NullInt64
	if err := r.DB.QueryRowContext(ctx, ex.SQL, ex.Args...).Scan(&issues, &unreadable, &newest); err != nil {
		return nil, fmt.Errorf("data-quality query: %w", err)
	}
	q := &Quality{Issues: issues.Int64, Unreadable: unreadable.Int64}
	if newest.Valid && newest.Int64 > 0 {
		n := newest.Int64
		q.Newest = time.Date(int(n/10000), time.Month(n/100%100), int(n%100), 0, 0, 0, 0, time.UTC)
	}
	return q, nil
}
