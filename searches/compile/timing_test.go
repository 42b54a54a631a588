package compile_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nhs-steward/steward/searches/compile"
	"github.com/nhs-steward/steward/searches/dialect"
	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/profile"
	"github.com/nhs-steward/steward/searches/schema"
)

// TestSQLiteLargeTiming times the MedSIP-like plan on a generated SQLite
// practice of 50,000 patients and 7 million issues. It takes minutes to
// build, so it runs only when STEWARD_SLOW_TESTS is set.
func TestSQLiteLargeTiming(t *testing.T) {
	if os.Getenv("STEWARD_SLOW_TESTS") == "" {
		t.Skip("STEWARD_SLOW_TESTS not set")
	}
	path := os.Getenv("STEWARD_LARGE_DB")
	if path == "" {
		path = filepath.Join(t.TempDir(), "large.db")
	}
	if _, err := os.Stat(path); err != nil {
		w, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		loadPractice(t, w, schema.SQLite, schema.Canonical, nil)
		start := time.Now()
		gen := []string{
			`INSERT INTO patients SELECT value, CASE value % 3 WHEN 0 THEN 'F' WHEN 1 THEN 'M' ELSE 'U' END,
			   date('1930-01-01', '+' || (value * 7919 % 30000) || ' days'), NULL, 1 + value % 10
			 FROM (WITH RECURSIVE g(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM g WHERE value < 50000) SELECT value FROM g)`,
			`INSERT INTO registrations SELECT value, 'Y01234', '2000-01-01', NULL FROM (WITH RECURSIVE g(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM g WHERE value < 50000) SELECT value FROM g)`,
			`INSERT INTO medication_issues SELECT value, 1 + abs(random()) % 50000,
			   date('2010-01-01', '+' || (abs(random()) % 5570) || ' days'),
			   CASE WHEN abs(random()) % 10 = 0 THEN 'OP' || (abs(random()) % 3) ELSE 'X' || (abs(random()) % 1000) END,
			   abs(random()) % 100, 'as directed'
			 FROM (WITH RECURSIVE g(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM g WHERE value < 7000000) SELECT value FROM g)`,
			`INSERT INTO clinical_events SELECT value, 1 + abs(random()) % 50000,
			   date('2010-01-01', '+' || (abs(random()) % 5570) || ' days'),
			   CASE WHEN abs(random()) % 50 = 0 THEN 'C1' WHEN abs(random()) % 20 = 0 THEN 'R1' ELSE 'E' || (abs(random()) % 1000) END, NULL
			 FROM (WITH RECURSIVE g(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM g WHERE value < 2000000) SELECT value FROM g)`,
			`ANALYZE`,
		}
		for _, q := range gen {
			if _, err := w.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		w.Close()
		t.Logf("generated in %s", time.Since(start))
	}
	db, d, err := dialect.Open("sqlite:" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	prof, _ := profile.Lookup("canonical")
	ts := newTestSearch([]string{"OP0", "OP1", "OP2"})
	ts.s.References[0].Values["OP0"] = 1.5
	eng := compile.NewEngine(db, d, prof)
	start := time.Now()
	res, err := eng.Evaluate(context.Background(), engine.Input{Plan: ts.plan(), Practice: practice, Dates: testDates})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("evaluated in %s: %d patients, %d rows", time.Since(start), res.Patients, res.Rows)
	for _, m := range res.Measures {
		t.Logf("%s = %v %v/%v", m.ID, m.Value, m.Numerator, m.Denominator)
	}
	fmt.Fprintln(os.Stderr)
}
