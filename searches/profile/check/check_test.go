package check_test

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/internal/pgtest"
	"github.com/nhs-steward/steward/searches/dialect"
	"github.com/nhs-steward/steward/searches/lang"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/profile"
	"github.com/nhs-steward/steward/searches/profile/check"
	"github.com/nhs-steward/steward/searches/schema"
	"github.com/nhs-steward/steward/searches/synth"
)

var asOf = time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC)

// practice writes a small synthetic practice in layout l and returns its
// path.
func practice(t *testing.T, l schema.Layout) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), string(l)+".db")
	db, d, err := synth.Open("sqlite:" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := synth.Generate(context.Background(), db, d, synth.Config{Patients: patients, Seed: 5, Layout: l}); err != nil {
		t.Fatal(err)
	}
	return path
}

func damage(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func plans(t *testing.T) []*model.Plan {
	t.Helper()
	pack, err := lang.LoadPack(filepath.Join("..", "..", "packs", "medsip"))
	if err != nil {
		t.Fatal(err)
	}
	var out []*model.Plan
	for _, s := range pack.Searches {
		p, err := model.Resolve(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func runCheck(t *testing.T, url string, prof *profile.Profile, params map[string]string, opt check.Options) (*check.Report, string) {
	t.Helper()
	db, d, err := dialect.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if prof, err = prof.Bind(params); err != nil {
		t.Fatal(err)
	}
	if opt.AsOf.IsZero() {
		opt.AsOf = asOf
	}
	r, err := check.Run(context.Background(), db, d, prof, opt)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	r.WriteText(&b)
	t.Logf("steward profile check, profile %s:\n%s", prof.Name, b.String())
	return r, b.String()
}

func builtin(t *testing.T, name string) *profile.Profile {
	t.Helper()
	p, err := profile.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}
}

// TestClean: a clean extract in every layout passes, with its figures.
func TestClean(t *testing.T) {
	ps := plans(t)
	for _, l := range schema.Layouts {
		t.Run(string(l), func(t *testing.T) {
			path := practice(t, l)
			r, out := runCheck(t, "sqlite:"+path, builtin(t, string(l)), schema.Parameters(l, synth.DefaultPractice),
				check.Options{Practice: synth.DefaultPractice, Plans: ps})
			if r.Failed() {
				t.Fatalf("a clean %s extract fails the check:\n%s", l, out)
			}
			pat := r.Table(profile.Patients)
			if pat.Rows != patients || r.DuplicatePatients != 0 || r.Orphans != 0 {
				t.Errorf("patients %d (duplicates %d, orphans %d), want %d", pat.Rows, r.DuplicatePatients, r.Orphans, patients)
			}
			iss := r.Table(profile.MedicationIssues)
			if iss.Rows == 0 || iss.First.IsZero() || iss.Last.Before(asOf) || !iss.Newest.Equal(asOf) && asOf.Sub(iss.Newest) > 7*24*time.Hour {
				t.Errorf("issues: %d rows, %s to %s, newest %s", iss.Rows, iss.First, iss.Last, iss.Newest)
			}
			if r.RegisteredAtAsOf < patients/3 {
				t.Errorf("registered at the practice: %d", r.RegisteredAtAsOf)
			}
			wantLines(t, out, "ok    patients: the SQL runs; columns patient_id", "patients registered at Y01234 on 2025-03-31: ",
				"medication issues whose drug maps to no dm+d code: ", "sentinel dates seen: none in the year 9999")
			if l == schema.EMIS {
				if r.Count(check.Warn) != 1 || len(r.Uncomputable) == 0 {
					t.Errorf("emis: %d warnings, uncomputable %v", r.Count(check.Warn), r.Uncomputable)
				}
				wantLines(t, out, "this layout (profile emis) has no issue quantities: high_dose, ", "ome_total_mg",
					"fix: use an extract whose medication table carries the quantity issued")
			} else if r.Count(check.Warn) != 0 {
				t.Errorf("a clean %s extract has warnings:\n%s", l, out)
			}
			if l == schema.TPP && iss.NullCodes == 0 {
				t.Error("tpp: no unmapped drug counted")
			}
		})
	}
}

// TestBrokenExtract: a SystmOne extract damaged as real ones are, each
// problem reported with its fix.
func TestBrokenExtract(t *testing.T) {
	path := practice(t, schema.TPP)
	damage(t, path,
		// Free-text quantities with no number.
		`UPDATE MedicationIssue SET Quantity = 'as directed' WHERE MedicationIssue_ID % 4 = 0`,
		// A third of the drug dictionary lost.
		`DELETE FROM MedicationDictionary WHERE rowid % 3 = 0`,
		// Patients lost from Patient but not from RegistrationHistory.
		`DELETE FROM Patient WHERE Patient_ID IN (SELECT Patient_ID FROM Patient ORDER BY Patient_ID LIMIT 4)`,
		// An extract refreshed three weeks before the month ended.
		`DELETE FROM MedicationIssue WHERE ConsultationDate >= '2025-03-10'`,
	)
	r, out := runCheck(t, "sqlite:"+path, builtin(t, "tpp"), schema.Parameters(schema.TPP, synth.DefaultPractice),
		check.Options{Practice: synth.DefaultPractice, AsOf: asOf})
	if !r.Failed() {
		t.Fatalf("a broken extract passes:\n%s", out)
	}
	wantLines(t, out,
		"fail  registrations name 4 patients that patients does not hold: they would count with no sex or age",
		"      fix: make the patients SQL include every patient",
		"warn  medication issues with an unreadable quantity: ",
		"warn  medication issues whose drug maps to no dm+d code: ",
		"warn  the newest medication issue on or before 2025-03-31 is dated 2025-03-0",
		"      fix: refresh the extract",
	)
	if iss := r.Table(profile.MedicationIssues); iss.NullQuantities*5 < iss.Rows {
		t.Errorf("unreadable quantities %d of %d", iss.NullQuantities, iss.Rows)
	}

	// The wrong Organisation_ID: nobody is registered, and the check
	// names the organisation that holds the patients.
	r, out = runCheck(t, "sqlite:"+path, builtin(t, "tpp"), map[string]string{"organisation_id": "42"},
		check.Options{Practice: synth.DefaultPractice})
	id := schema.Parameters(schema.TPP, synth.DefaultPractice)["organisation_id"]
	wantLines(t, out, "fail  no patient is registered at Y01234 on 2025-03-31; the registrations give most patients to "+id+" (",
		"set the profile parameter that names it (organisation_id: database.profile_parameters")
	if r.RegisteredAtAsOf != 0 || len(r.BusiestPractices) == 0 || r.BusiestPractices[0].Practice != id {
		t.Errorf("registered %d, busiest %v", r.RegisteredAtAsOf, r.BusiestPractices)
	}
}

// TestBrokenProfile: a profile file written for the wrong layout, or
// giving the wrong types, fails with the column and the fix.
func TestBrokenProfile(t *testing.T) {
	path := practice(t, schema.Canonical)
	damage(t, path, `INSERT INTO medication_issues (issue_id, patient_id, issue_date, dmd_code, quantity) SELECT 990000000 + issue_id, patient_id, '9999-12-31', dmd_code, quantity FROM medication_issues LIMIT 3`)
	src := `steward: profile/v1
name: careless
tables:
  patients:
    sql: |
      SELECT p.patient_id, CASE p.sex WHEN 'U' THEN 'X' ELSE p.sex END AS sex, p.date_of_birth, p.date_of_death, p.imd_decile
      FROM patients AS p JOIN registrations AS r ON r.patient_id = p.patient_id
  registrations:
    sql: SELECT patient_id, practice_ods, start_date, end_date FROM registration
  medication_issues:
    sql: SELECT patient_id, issue_date || ' 14:00:00' AS issue_date, CAST(dmd_code AS INTEGER) AS dmd_code, quantity FROM medication_issues
  clinical_events:
    sql: SELECT patient_id, event_date, snomed_code, numeric_value FROM clinical_events
`
	prof, err := profile.Parse("careless.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	r, out := runCheck(t, "sqlite:"+path, prof, nil, check.Options{Practice: synth.DefaultPractice})
	wantLines(t, out,
		"fail  registrations: the SQL does not run: ", "no such table: registration",
		"fail  medication_issues.issue_date holds text shaped \"9999-99-99 99:99:99\", a date with a time of day",
		"fail  medication_issues.dmd_code is a number: codes must be text",
		"fix: cast it to text in the profile",
		"fail  patients has ", "rows repeating a patient id already given",
	)
	if !r.Failed() || r.Table(profile.Registrations).Runs {
		t.Errorf("failed %v, registrations runs %v", r.Failed(), r.Table(profile.Registrations).Runs)
	}
	// Sentinel dates reaching Steward as dates, through the canonical
	// profile.
	_, out = runCheck(t, "sqlite:"+path, builtin(t, "canonical"), nil, check.Options{Practice: synth.DefaultPractice})
	wantLines(t, out, "warn  sentinel dates seen: 3 rows hold a date in the year 9999 (medication_issues 3)",
		"fix: read the layout's 'no date' sentinel as NULL in the profile")
}

// TestPostgres: the built-in layouts on PostgreSQL, where the database's
// own types are judged.
func TestPostgres(t *testing.T) {
	u := pgtest.NewDB(t)
	for _, l := range schema.Layouts {
		t.Run(string(l), func(t *testing.T) {
			admin, err := sql.Open("pgx", u)
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			name := "check_" + string(l)
			if _, err := admin.Exec("DROP SCHEMA IF EXISTS " + name + " CASCADE; CREATE SCHEMA " + name); err != nil {
				t.Fatal(err)
			}
			url := u + sep(u) + "search_path=" + name
			db, d, err := synth.Open(url)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := synth.Generate(context.Background(), db, d, synth.Config{Patients: patients, Seed: 5, Layout: l}); err != nil {
				t.Fatal(err)
			}
			db.Close()
			r, out := runCheck(t, url, builtin(t, string(l)), schema.Parameters(l, synth.DefaultPractice), check.Options{Practice: synth.DefaultPractice})
			if r.Failed() {
				t.Fatalf("a clean %s extract fails on PostgreSQL:\n%s", l, out)
			}
			if got := r.Table(profile.MedicationIssues).Columns[1].Type; got != "date" {
				t.Errorf("issue_date reads as %q on PostgreSQL, want date", got)
			}
		})
	}
	// A timestamp left uncast is refused.
	admin, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`DROP SCHEMA IF EXISTS check_ts CASCADE; CREATE SCHEMA check_ts;
CREATE TABLE check_ts.p (id bigint, dob timestamp); INSERT INTO check_ts.p VALUES (1, '1980-01-01 14:00')`); err != nil {
		t.Fatal(err)
	}
	prof, err := profile.Parse("ts.yaml", []byte(`steward: profile/v1
name: ts
tables:
  patients: {sql: "SELECT id AS patient_id, 'F' AS sex, dob AS date_of_birth, CAST(NULL AS date) AS date_of_death, 1 AS imd_decile FROM check_ts.p"}
  registrations: {sql: "SELECT id AS patient_id, 'Y01234' AS practice_ods, CAST(dob AS date) AS start_date, CAST(NULL AS date) AS end_date FROM check_ts.p"}
  medication_issues: {sql: "SELECT id AS patient_id, CAST(dob AS date) AS issue_date, '1' AS dmd_code, 1.0 AS quantity FROM check_ts.p"}
  clinical_events: {sql: "SELECT id AS patient_id, CAST(dob AS date) AS event_date, '1' AS snomed_code, 1.0 AS numeric_value FROM check_ts.p"}
`))
	if err != nil {
		t.Fatal(err)
	}
	_, out := runCheck(t, u, prof, nil, check.Options{Practice: "Y01234"})
	wantLines(t, out, "fail  patients.date_of_birth is a timestamp: cast it to date")
}

func sep(u string) string {
	if strings.Contains(u, "?") {
		return "&"
	}
	if strings.Contains(u, "://") {
		return "?"
	}
	return " "
}
