package synth

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/internal/pgtest"
	"github.com/nhs-steward/steward/searches/schema"
)

// canonicalDigest summarises a canonical practice in engine-neutral text.
func canonicalDigest(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT count(*), sum(patient_id), count(date_of_death), sum(imd_decile), min(CAST(date_of_birth AS TEXT)), max(CAST(date_of_birth AS TEXT)) FROM patients`,
		`SELECT count(*), count(end_date), min(CAST(start_date AS TEXT)), max(CAST(start_date AS TEXT)), count(DISTINCT practice_ods) FROM registrations`,
		`SELECT count(*), count(quantity), sum(CAST(quantity AS DOUBLE PRECISION)), count(dose_text), count(DISTINCT dmd_code), max(CAST(issue_date AS TEXT)) FROM medication_issues`,
		`SELECT count(*), count(DISTINCT snomed_code), max(CAST(event_date AS TEXT)), count(numeric_value) FROM clinical_events`,
		`SELECT dmd_code, CAST(issue_date AS TEXT), CAST(quantity AS DOUBLE PRECISION) FROM medication_issues WHERE issue_id IN (1, 1000, 5000)`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				s := v.String
				if f, err := fmt.Sscanf(s, "%g", new(float64)); err == nil && f == 1 && strings.ContainsAny(s, ".e") {
					var x float64
					fmt.Sscanf(s, "%g", &x)
					s = fmt.Sprintf("%.3f", x)
				}
				fmt.Fprintf(&b, "%s|", s)
			}
			b.WriteByte('\n')
		}
		rows.Close()
	}
	return b.String()
}

func TestPostgres(t *testing.T) {
	url := pgtest.NewDB(t)
	ctx := context.Background()
	db, d, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if d != schema.Postgres {
		t.Fatalf("dialect %s", d)
	}
	cfg := smallConfig(800)
	sum, err := Generate(ctx, db, d, cfg)
	if err != nil {
		t.Fatalf("Generate into PostgreSQL: %v", err)
	}
	lite, liteSum := genSQLite(t, cfg)
	if sum.Issues != liteSum.Issues || sum.Events != liteSum.Events || sum.Registrations != liteSum.Registrations {
		t.Fatalf("summaries differ: postgres %+v sqlite %+v", sum, liteSum)
	}
	if got, want := canonicalDigest(t, db), canonicalDigest(t, lite); got != want {
		t.Fatalf("PostgreSQL and SQLite practices differ:\n%s\n%s", got, want)
	}
	pgS, err := ReadScenarios(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	liteS, err := ReadScenarios(ctx, lite)
	if err != nil {
		t.Fatal(err)
	}
	if len(pgS) != len(liteS) {
		t.Fatalf("ReadScenarios: %d rows from PostgreSQL, %d from SQLite", len(pgS), len(liteS))
	}
	for i := range pgS {
		if !reflect.DeepEqual(pgS[i], liteS[i]) {
			t.Fatalf("ReadScenarios differs:\npostgres %+v\nsqlite   %+v", pgS[i], liteS[i])
		}
	}
	if _, err := Generate(ctx, db, d, cfg); err == nil {
		t.Fatal("second Generate without Force succeeded")
	}
	// The tpp layout loads too, beside the canonical tables.
	cfg.Layout, cfg.Force = schema.TPP, true
	if _, err := Generate(ctx, db, d, cfg); err != nil {
		t.Fatalf("Generate tpp into PostgreSQL: %v", err)
	}
	var open, withUnit int
	if err := db.QueryRow(`SELECT count(*) FROM RegistrationHistory WHERE EndDate = '9999-12-31 00:00:00'`).Scan(&open); err != nil || open == 0 {
		t.Fatalf("open registrations %d (%v)", open, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM MedicationIssue WHERE Quantity LIKE '% %'`).Scan(&withUnit); err != nil || withUnit == 0 {
		t.Fatalf("quantities with units %d (%v)", withUnit, err)
	}
}
