package compile_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/searches/compile"
	"github.com/nhs-steward/steward/searches/dialect"
	"github.com/nhs-steward/steward/searches/schema"
)

// queryPlan is SQLite's plan of st's query, a line per step.
func queryPlan(t *testing.T, db *sql.DB, st *compile.Statement) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+st.Query.SQL, st.Query.Args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestSQLiteSinglePass checks with EXPLAIN QUERY PLAN that the query reads
// medication_issues once, on a database whose statistics say it holds 9
// million issues of 50,000 patients.
func TestSQLiteSinglePass(t *testing.T) {
	for _, l := range []schema.Layout{schema.Canonical, schema.TPP} {
		t.Run(string(l), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "big.db")
			w, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			loadPractice(t, w, schema.SQLite, l, testPatients()[:1])
			issues, events, regs := "medication_issues", "clinical_events", "registrations"
			idx := []string{"medication_issues_patient", "clinical_events_patient", "registrations_patient"}
			if l == schema.TPP {
				issues, events, regs = "MedicationIssue", "CodedEvent_SNOMED", "RegistrationHistory"
				idx = []string{"MedicationIssue_Patient", "CodedEvent_SNOMED_Patient", "RegistrationHistory_Patient"}
			}
			stats := []string{
				"ANALYZE",
				"DELETE FROM sqlite_stat1",
				fmt.Sprintf("INSERT INTO sqlite_stat1 VALUES ('%s', '%s', '9000000 180 2')", issues, idx[0]),
				fmt.Sprintf("INSERT INTO sqlite_stat1 VALUES ('%s', '%s', '5000000 100 2')", events, idx[1]),
				fmt.Sprintf("INSERT INTO sqlite_stat1 VALUES ('%s', '%s', '60000 1')", regs, idx[2]),
			}
			for _, q := range stats {
				if _, err := w.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			w.Close()
			db, d, err := dialect.Open("sqlite:" + path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			prof := bound(t, l)
			st, err := compile.SQL(newTestSearch([]string{"OP1", "OP2"}).plan(), d, prof, compile.Options{Practice: practice, Dates: testDates})
			if err != nil {
				t.Fatal(err)
			}
			plan := queryPlan(t, db, st)
			name := issues
			if l == schema.TPP {
				name = "m" // the fragment's alias
			}
			var reads []string
			for _, p := range plan {
				f := strings.Fields(p)
				if len(f) >= 2 && (f[0] == "SCAN" || f[0] == "SEARCH") && f[1] == name {
					reads = append(reads, p)
				}
				if p == "SCAN i LEFT-JOIN" || p == "SCAN e LEFT-JOIN" {
					t.Errorf("patients join the per-patient aggregates without an index: %q", p)
				}
			}
			t.Logf("query plan:\n%s", strings.Join(plan, "\n"))
			if len(reads) != 1 {
				t.Fatalf("medication issues are read %d times, want once:\n%s", len(reads), strings.Join(plan, "\n"))
			}
			if strings.Contains(reads[0], "INDEX") {
				t.Errorf("medication issues are read through an index (%q), want one sequential scan", reads[0])
			}
		})
	}
}
