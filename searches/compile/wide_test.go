package compile_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/searches/compile"
	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/profile"
	"github.com/nhs-steward/steward/searches/schema"
)

// seriesSearch is the MedSIP-like test search with every measure in a
// series of n month ends, and the patients counted by IMD quintile; ranked
// adds a measure reading the quantity of each patient's last opioid issue
// (a ranked row, which no wide query computes).
func seriesSearch(n int, ranked bool) *model.Plan {
	ts := newTestSearch([]string{"OP1", "OP2", "SHARED", "NOOME"})
	ts.s.Measures = append(ts.s.Measures, &model.Measure{ID: "by_imd", Kind: model.KindCount,
		Value: &model.Agg{Kind: model.KindCount}, Stratify: []model.Dimension{model.DimIMDQuintile}})
	if ranked {
		last := &model.Aggregate{Op: model.OpLast, Source: model.Issues, Codelist: ts.s.Codelists[0], Window: months(12),
			Value: model.ValueQuantity, Of: model.Attr{Kind: model.AttrValue}}
		ts.s.Measures = append(ts.s.Measures, &model.Measure{ID: "last_qty_over_10", Kind: model.KindCount,
			Value: &model.Agg{Kind: model.KindCount, Where: cmp(">", last, num(10))}})
	}
	for _, m := range ts.s.Measures {
		m.Series = n
	}
	return ts.plan()
}

// datedIssues is the canonical layout with issues read up to the as-of
// date in their own SQL.
const datedIssues = `steward: profile/v1
name: dated
description: The canonical schema, the issues cut at the as-of date in their SQL.
tables:
  patients:
    sql: SELECT patient_id, sex, date_of_birth, date_of_death, imd_decile FROM patients
  registrations:
    sql: SELECT patient_id, practice_ods, start_date, end_date FROM registrations
  medication_issues:
    sql: SELECT patient_id, issue_date, dmd_code, quantity FROM medication_issues WHERE issue_date <= {{as_of}}
  clinical_events:
    sql: SELECT patient_id, event_date, snomed_code, numeric_value FROM clinical_events
`

// seriesQuery is the input evaluating the series measures of plan, their
// dates and their series query.
func seriesQuery(t *testing.T, plan *model.Plan, d compile.Dialect, prof *profile.Profile) (engine.Input, []time.Time, *compile.Statement) {
	t.Helper()
	sp, n := plan.SeriesPlan()
	dates := model.SeriesDates(testDates.AsOf, n)
	st, err := compile.SeriesSQL(sp, d, prof, compile.Options{Practice: practice, Dates: testDates}, dates)
	if err != nil {
		t.Fatal(err)
	}
	return engine.Input{Plan: sp, Practice: practice, Dates: testDates}, dates, st
}

// imdCells are the IMD quintile counts of the by_imd measure of res.
func imdCells(res *engine.Result) map[string]int64 {
	out := map[string]int64{}
	for _, m := range res.Measures {
		if m.ID != "by_imd" {
			continue
		}
		for _, s := range m.Strata {
			out[s.Label] = s.Count
		}
	}
	return out
}

// eachDate evaluates the plan at each date alone.
func eachDate(t *testing.T, eng *compile.Engine, in engine.Input, dates []time.Time) []*engine.Result {
	t.Helper()
	var out []*engine.Result
	for _, at := range dates {
		in.Dates.AsOf = at
		res, err := eng.Evaluate(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res)
	}
	return out
}

// seriesAgrees fails unless EvaluateSeries gives want, date by date.
func seriesAgrees(t *testing.T, eng *compile.Engine, in engine.Input, dates []time.Time, want []*engine.Result) {
	t.Helper()
	got, err := eng.EvaluateSeries(context.Background(), in, dates)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for k := range want {
		g, w := *got[k], *want[k]
		g.Duration, w.Duration = 0, 0
		if !reflect.DeepEqual(g, w) {
			t.Errorf("as of %s:\n got %+v\nwant %+v", dates[k].Format(time.DateOnly), g, w)
		}
	}
}

// TestWideSeries: a series is one wide query (no month_ends, no row per
// patient and month end) whose figures at every month end are those of
// the query of that month end alone, counts, sums, ratios, strata,
// each-month flags and rows read included; the same in groups of month
// ends, each a wide query, when one would have too many columns; and a long
// query when an aggregate ranks rows, with the same figures.
func TestWideSeries(t *testing.T) {
	for _, d := range []schema.Dialect{schema.SQLite, schema.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			db, dl := openPractice(t, d, schema.Canonical, testPatients())
			prof := bound(t, schema.Canonical)
			eng := compile.NewEngine(db, dl, prof)

			in, dates, st := seriesQuery(t, seriesSearch(13, false), dl, prof)
			sp := in.Plan
			if text := st.Query.SQL; strings.Contains(text, "month_ends") || !strings.Contains(text, "AS reg_as_of_p12") {
				t.Fatalf("not a wide query:\n%s", text)
			}
			want := eachDate(t, eng, in, dates)
			seriesAgrees(t, eng, in, dates, want)

			t.Run("groups", func(t *testing.T) {
				// A few dates' columns at most: the series runs as several
				// wide queries, and one query for it all is the long one.
				restore := compile.SetMaxWideColumns(len(st.Columns) / 4)
				defer restore()
				st, err := compile.SeriesSQL(sp, dl, prof, compile.Options{Practice: practice, Dates: testDates}, dates)
				if err == nil && !strings.Contains(st.Query.SQL, "month_ends") {
					t.Errorf("a series too wide for one wide query is one wide query")
				}
				seriesAgrees(t, eng, in, dates, want)
			})

			t.Run("one date too wide", func(t *testing.T) {
				// Not even one date's columns fit: the long query or a
				// query per date, never a loop.
				restore := compile.SetMaxWideColumns(3)
				defer restore()
				seriesAgrees(t, eng, in, dates, want)
			})

			t.Run("tpp", func(t *testing.T) {
				// SystmOne's patients' SQL reads the address at the as-of
				// date: a copy of the patients per month end, in one query.
				// Patient 1 moves on 2025-01-15, from an address of IMD
				// decile 10 to one of decile 3.
				patients := testPatients()
				patients[0].address = []tAddress{{start: "2001-01-01", end: "2025-01-15", rank: i64(32000)}, {start: "2025-01-15", rank: i64(6600)}}
				db, dl := openPractice(t, d, schema.TPP, patients)
				prof := bound(t, schema.TPP)
				eng := compile.NewEngine(db, dl, prof)
				in, dates, st := seriesQuery(t, seriesSearch(5, false), dl, prof)
				if text := st.Query.SQL; strings.Contains(text, "month_ends") || !strings.Contains(text, "px_p4") {
					t.Fatalf("not a wide query with the patients per month end:\n%s", text)
				}
				want := eachDate(t, eng, in, dates)
				if q := imdCells(want[0]); q["5"] == imdCells(want[len(want)-1])["5"] {
					t.Fatalf("the move does not show in the IMD quintiles: %v then %v", q, imdCells(want[len(want)-1]))
				}
				seriesAgrees(t, eng, in, dates, want)
			})

			t.Run("as-of date in the issues' SQL", func(t *testing.T) {
				// A layout whose issues' SQL reads the as-of date cannot be
				// read once for every month end: a query per month end,
				// with the same figures.
				prof, err := profile.Parse("dated.yaml", []byte(datedIssues))
				if err != nil {
					t.Fatal(err)
				}
				eng := compile.NewEngine(db, dl, prof)
				sp, n := seriesSearch(4, false).SeriesPlan()
				dates := model.SeriesDates(testDates.AsOf, n)
				if _, err := compile.SeriesSQL(sp, dl, prof, compile.Options{Practice: practice, Dates: testDates}, dates); !errors.Is(err, compile.ErrNoSinglePass) {
					t.Fatalf("SeriesSQL = %v, want ErrNoSinglePass", err)
				}
				in := engine.Input{Plan: sp, Practice: practice, Dates: testDates}
				seriesAgrees(t, eng, in, dates, eachDate(t, eng, in, dates))
			})

			t.Run("ranked", func(t *testing.T) {
				in, dates, st := seriesQuery(t, seriesSearch(4, true), dl, prof)
				if !strings.Contains(st.Query.SQL, "month_ends") {
					t.Errorf("a series with a ranked row is not the long query:\n%s", st.Query.SQL)
				}
				seriesAgrees(t, eng, in, dates, eachDate(t, eng, in, dates))
			})
		})
	}
}
