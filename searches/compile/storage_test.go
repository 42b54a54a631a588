package compile_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/searches/compile"
	"github.com/nhs-steward/steward/searches/dialect"
	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/schema"
)

// storedPractice writes a SQLite practice of 400 patients with 60 monthly
// issues each (2020-04 to 2025-03, every tenth an opioid), stored patient
// by patient or in date order, runs the statements then, analyses it, and
// opens it read-only.
func storedPractice(t *testing.T, byPatient bool, then ...string) (*sql.DB, compile.Dialect) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stored.db")
	w, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	loadPractice(t, w, schema.SQLite, schema.Canonical, nil)
	order := "p.patient_id, m.value"
	if !byPatient {
		order = "m.value, p.patient_id"
	}
	gen := []string{
		`WITH RECURSIVE g(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM g WHERE value < 400)
		 INSERT INTO patients SELECT value, CASE value % 2 WHEN 0 THEN 'F' ELSE 'M' END, '1960-06-15', NULL, 1 + value % 10 FROM g`,
		`INSERT INTO registrations SELECT patient_id, 'Y01234', '2000-01-01', NULL FROM patients`,
		`WITH RECURSIVE g(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM g WHERE value < 60)
		 INSERT INTO medication_issues (patient_id, issue_date, dmd_code, quantity, dose_text)
		 SELECT p.patient_id, date('2020-04-01', '+' || (m.value - 1) || ' months'),
		        CASE WHEN (p.patient_id + m.value) % 10 = 0 THEN 'OP1' ELSE 'X' || (m.value % 7) END, 28, NULL
		 FROM patients AS p, g AS m ORDER BY ` + order,
	}
	gen = append(append(gen, then...), "ANALYZE")
	for _, q := range gen {
		if _, err := w.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	db, d, err := dialect.Open("sqlite:" + path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, d
}

// issuesRead is how the query plan of st reads medication_issues.
func issuesRead(t *testing.T, db *sql.DB, st *compile.Statement) string {
	t.Helper()
	var reads []string
	for _, detail := range queryPlan(t, db, st) {
		if f := strings.Fields(detail); len(f) >= 2 && (f[0] == "SCAN" || f[0] == "SEARCH") && f[1] == "medication_issues" {
			reads = append(reads, detail)
		}
	}
	if len(reads) != 1 {
		t.Fatalf("medication_issues read %d times: %q", len(reads), reads)
	}
	return reads[0]
}

// TestStorageHints: on SQLite, a pass whose windows hold a small share of
// an issues table stored patient by patient reads it through the patient
// and date index (one skip-scan); stored in date order, or for a window
// holding most of the rows, or in a layout whose table SQL is not one
// table, it scans the table once. The figures are the same every way.
func TestStorageHints(t *testing.T) {
	ctx := context.Background()
	ts := newTestSearch([]string{"OP1"})
	plan := ts.plan()
	prof := bound(t, schema.Canonical)
	in := engine.Input{Plan: plan, Practice: practice, Dates: testDates}
	var want *engine.Result
	for _, tc := range []struct {
		name      string
		byPatient bool
		dates     model.Dates
		indexed   bool
	}{
		{"patient order", true, testDates, true},
		{"date order", false, testDates, false},
		// Baseline 2020-06-30: the issues' 3 months before it start on
		// 2020-04-01, the first month of the data: every row is in the
		// windows.
		{"patient order, most rows in the windows", true, model.Dates{AsOf: testDates.AsOf, Baseline: day("2020-06-30")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, d := storedPractice(t, tc.byPatient)
			eng := compile.NewEngine(db, d, prof)
			in := in
			in.Dates = tc.dates
			opts := eng.StorageOptions(ctx, in)
			if got := opts.ThroughIndex[model.Issues]; got != tc.indexed {
				t.Fatalf("issues through the index: %v, want %v", got, tc.indexed)
			}
			if opts.ThroughIndex[model.Events] {
				t.Errorf("events through the index: their windows include ever")
			}
			st, err := compile.SQL(plan, d, prof, opts)
			if err != nil {
				t.Fatal(err)
			}
			read := issuesRead(t, db, st)
			if tc.indexed != strings.Contains(read, "USING INDEX medication_issues_patient") {
				t.Errorf("issues read by %q, want through the index: %v", read, tc.indexed)
			}
			// The same figures with and without the hint, and in either
			// storage order.
			res, err := eng.Evaluate(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			plain := opts
			plain.ThroughIndex = nil
			st, err = compile.SQL(plan, d, prof, plain)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(issuesRead(t, db, st), "INDEX") {
				t.Errorf("without the hint the issues are read through an index")
			}
			if tc.dates != testDates {
				return
			}
			res.Duration = 0
			if want == nil {
				want = res
			} else if !reflect.DeepEqual(res, want) {
				t.Errorf("figures differ with the storage order:\n got %+v\nwant %+v", res, want)
			}
		})
	}
	t.Run("not a table, or empty", func(t *testing.T) {
		// Stored patient by patient, but the probe cannot read rowids of
		// a view, and an empty table has none: no hint, the pass scans,
		// the figures are those of the table read directly.
		db, d := storedPractice(t, true)
		hinted := compile.NewEngine(db, d, prof)
		if !hinted.StorageOptions(ctx, in).ThroughIndex[model.Issues] {
			t.Fatal("the table itself is not read through its index")
		}
		want, err := hinted.Evaluate(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		want.Duration = 0
		for name, then := range map[string][]string{
			"a view": {
				"ALTER TABLE medication_issues RENAME TO issues_data",
				"CREATE VIEW medication_issues AS SELECT * FROM issues_data",
			},
			"empty": {"DELETE FROM medication_issues"},
		} {
			t.Run(name, func(t *testing.T) {
				db, d := storedPractice(t, true, then...)
				eng := compile.NewEngine(db, d, prof)
				if opts := eng.StorageOptions(ctx, in); len(opts.ThroughIndex) > 0 {
					t.Errorf("hinted: %v", opts.ThroughIndex)
				}
				res, err := eng.Evaluate(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				res.Duration = 0
				switch {
				case name == "a view" && !reflect.DeepEqual(res, want):
					t.Errorf("through a view:\n got %+v\nwant %+v", res, want)
				case name == "empty" && (res.Patients != want.Patients || res.Rows >= want.Rows):
					t.Errorf("with no issues: %d patients, %d rows; want %d patients, fewer than %d rows", res.Patients, res.Rows, want.Patients, want.Rows)
				}
			})
		}
	})

	t.Run("tpp", func(t *testing.T) {
		// SystmOne's table SQL joins and converts: never hinted.
		db, d := openPractice(t, schema.SQLite, schema.TPP, testPatients())
		eng := compile.NewEngine(db, d, bound(t, schema.TPP))
		if opts := eng.StorageOptions(ctx, in); len(opts.ThroughIndex) > 0 {
			t.Errorf("tpp hinted: %v", opts.ThroughIndex)
		}
	})
}
