package compile

import (
	"context"
	"database/sql"
	"regexp"
	"strconv"
	"time"

	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/schema"
)

// Storage: on SQLite, whether a source pass should read its rows through
// the table's (patient, date) index rather than in one scan.
//
// One sequential scan reads every row of the issues table; a skip-scan of
// an index led by (patient_id, issue_date) reads only the rows of the
// pass's windows, but fetches each from the table by its rowid. When the
// table is stored patient by patient (a bulk export written in patient
// order, Steward's synthetic practices), those fetches walk the table in
// order and the index reads a 15-month window of 10 years' issues in half
// the time of the scan; when it is stored in the order rows were entered
// (by date), every fetch lands somewhere else and the index takes twice
// the time of the scan. SQLite's planner knows neither the order nor, for
// bound dates, the window's share of rows, so the engine looks: a few
// short runs of rows by rowid say whether consecutive rows share a
// patient and how many fall in the window. The figures are the same
// either way; only the time differs.

// The storage sample: sampleRuns runs of sampleRun consecutive rows,
// evenly spread over the table's rowids.
const (
	sampleRuns = 16
	sampleRun  = 32
	// clusteredRuns is the most patient changes per row of a sample for
	// the table to count as stored patient by patient.
	clusteredRuns = 0.1
	// maxIndexedShare is the largest share of rows in the windows for
	// which reading through the index pays.
	maxIndexedShare = 0.3
)

// plainTable matches a profile fragment that reads one table's columns
// unchanged.
var plainTable = regexp.MustCompile(`^SELECT ([a-z_]+(?:, [a-z_]+)*) FROM ([A-Za-z_][A-Za-z0-9_]*)$`)

// options are the options of in, with the storage hints of e's database.
func (e *Engine) options(ctx context.Context, in engine.Input) Options {
	return e.optionsFor(ctx, in, in.Dates, in.Dates.AsOf)
}

// optionsFor are the options of in with the storage hints of e's database
// for rows from the windows' starts at dates to the date upTo (a series
// reads from the windows of its first month end to its last).
func (e *Engine) optionsFor(ctx context.Context, in engine.Input, dates model.Dates, upTo time.Time) Options {
	o := options(in)
	if e.dialect.Name() != schema.SQLite || in.Plan == nil {
		return o
	}
	for _, s := range sources {
		from, ok := earliestFrom(in.Plan, s.src, dates)
		if !ok {
			continue
		}
		frag, err := e.profile.Fragment(s.table, schema.SQLite)
		if err != nil {
			continue
		}
		m := plainTable.FindStringSubmatch(frag)
		if m == nil {
			continue
		}
		if e.storedByPatient(ctx, m[2], s.dateCol, from, upTo) {
			if o.ThroughIndex == nil {
				o.ThroughIndex = map[model.Source]bool{}
			}
			o.ThroughIndex[s.src] = true
		}
	}
	return o
}

// earliestFrom is the earliest window start of the plan's aggregates over
// src; false when one has no start (it reads every row) or none reads src.
func earliestFrom(plan *model.Plan, src model.Source, d model.Dates) (time.Time, bool) {
	var out time.Time
	for _, a := range plan.Aggregates {
		if a.Source != src {
			continue
		}
		if a.Window.End == model.AnchorBaseline && d.Baseline.IsZero() {
			return time.Time{}, false
		}
		from, _, hasFrom := a.Window.Range(d)
		if !hasFrom {
			return time.Time{}, false
		}
		if out.IsZero() || from.Before(out) {
			out = from
		}
	}
	return out, !out.IsZero()
}

// storedByPatient reports whether table keeps each patient's rows
// together and few of its rows fall between from and to: a sample of
// runs of consecutive rows by rowid. Any failure (no rowid, an empty
// table) says no: the pass then scans, as it always may.
func (e *Engine) storedByPatient(ctx context.Context, table, dateCol string, from, to time.Time) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return false
	}
	defer conn.Close()
	var lo, hi sql.NullInt64
	// table comes from the profile, a name matched by plainTable. Each
	// bound alone is a step to one end of the rowids; together in one
	// SELECT they would be a scan.
	if err := conn.QueryRowContext(ctx, "SELECT (SELECT MIN(rowid) FROM "+table+"), (SELECT MAX(rowid) FROM "+table+")").Scan(&lo, &hi); err != nil || !lo.Valid || hi.Int64-lo.Int64 < sampleRuns*sampleRun {
		return false
	}
	q := "SELECT patient_id, " + dateCol + " FROM " + table + " WHERE rowid >= ? ORDER BY rowid LIMIT " + strconv.Itoa(sampleRun)
	f, t := from.Format(time.DateOnly), to.Format(time.DateOnly)
	var rows, changes, inWindow int
	for r := 0; r < sampleRuns; r++ {
		start := lo.Int64 + (hi.Int64-lo.Int64)*int64(r)/sampleRuns
		res, err := conn.QueryContext(ctx, q, start)
		if err != nil {
			return false
		}
		var prev string
		for n := 0; res.Next(); n++ {
			var pid, date sql.NullString
			if err := res.Scan(&pid, &date); err != nil {
				res.Close()
				return false
			}
			if n > 0 && pid.String != prev {
				changes++
			}
			prev = pid.String
			rows++
			if d := date.String; date.Valid && len(d) >= 10 && d[:10] >= f && d[:10] <= t {
				inWindow++
			}
		}
		if err := res.Close(); err != nil {
			return false
		}
	}
	if rows < sampleRuns*sampleRun/2 {
		return false
	}
	return float64(changes)/float64(rows) <= clusteredRuns && float64(inWindow)/float64(rows) <= maxIndexedShare
}
