package dataset

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/internal/pgtest"
	"github.com/nhs-steward/steward/searches/schema"

	_ "modernc.org/sqlite"
)

func ptr[T any](v T) *T { return &v }

func sample() *Dataset {
	d := Date
	return &Dataset{
		Patients: []Patient{
			{ID: 1, Sex: "F", DateOfBirth: d(1960, 5, 1), IMDDecile: ptr(3)},
			{ID: 2, Sex: "U", DateOfBirth: d(2007, 3, 31), DateOfDeath: ptr(d(2025, 3, 31))},
			{ID: 3, Sex: "M", DateOfBirth: d(1950, 1, 1)},
		},
		Registrations: []Registration{
			{PatientID: 1, Practice: "Y01234", Start: d(2010, 1, 1)},
			{PatientID: 2, Practice: "Y01234", Start: d(2010, 1, 1), End: ptr(d(2025, 3, 31))},
			{PatientID: 3, Practice: "X99999", Start: d(2010, 1, 1)},
		},
		Issues: []Issue{
			{ID: 1, PatientID: 1, Date: d(2025, 1, 5), Code: "111", Quantity: ptr(56.0), Dose: "1 twice daily"},
			{ID: 2, PatientID: 1, Date: d(2025, 2, 5), Code: "111", Quantity: nil},
			{ID: 3, PatientID: 1, Date: d(2025, 3, 5), Code: "111", Quantity: ptr(28.5)},
			{ID: 4, PatientID: 1, Date: d(2025, 3, 6), Code: "999", Quantity: ptr(10.0)},
			{ID: 5, PatientID: 2, Date: d(2025, 3, 6), Code: "998", Quantity: ptr(0.0)},
		},
		Events: []Event{
			{ID: 1, PatientID: 1, Date: d(2024, 6, 1), Code: "555", Value: ptr(1.25)},
			{ID: 2, PatientID: 2, Date: d(2024, 6, 1), Code: "555"},
		},
	}
}

func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "practice.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mappedOnly(codes ...string) func(string) bool {
	return func(c string) bool {
		for _, x := range codes {
			if x == c {
				return true
			}
		}
		return false
	}
}

func query(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var f []string
		for _, v := range vals {
			if v.Valid {
				f = append(f, v.String)
			} else {
				f = append(f, "NULL")
			}
		}
		out = append(out, strings.Join(f, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "\n")
}

func TestCanonicalSQLite(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	if err := Write(ctx, db, schema.SQLite, schema.Canonical, sample(), Options{}); err != nil {
		t.Fatal(err)
	}
	if got, want := query(t, db, "SELECT patient_id, sex, CAST(date_of_birth AS TEXT), CAST(date_of_death AS TEXT), imd_decile FROM patients ORDER BY 1"),
		"1|F|1960-05-01|NULL|3\n2|U|2007-03-31|2025-03-31|NULL\n3|M|1950-01-01|NULL|NULL"; got != want {
		t.Errorf("patients:\n%s\nwant\n%s", got, want)
	}
	if got, want := query(t, db, "SELECT issue_id, CAST(issue_date AS TEXT), dmd_code, quantity, dose_text FROM medication_issues ORDER BY 1"),
		"1|2025-01-05|111|56|1 twice daily\n2|2025-02-05|111|NULL|NULL\n3|2025-03-05|111|28.5|NULL\n4|2025-03-06|999|10|NULL\n5|2025-03-06|998|0|NULL"; got != want {
		t.Errorf("issues:\n%s\nwant\n%s", got, want)
	}
	if got, want := query(t, db, "SELECT count(*) FROM registrations WHERE end_date IS NULL"), "2"; got != want {
		t.Errorf("open spells = %s, want %s", got, want)
	}
}

func TestTPPSQLite(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	if err := Write(ctx, db, schema.SQLite, schema.TPP, sample(), Options{Mapped: mappedOnly("111")}); err != nil {
		t.Fatal(err)
	}
	if got, want := query(t, db, "SELECT Sex FROM Patient WHERE Patient_ID = 2"), "I"; got != want {
		t.Errorf("sex of U = %s, want %s", got, want)
	}
	if got, want := query(t, db, "SELECT CAST(DateOfDeath AS TEXT) FROM Patient WHERE Patient_ID = 2"), "2025-03-31 23:59:59"; got != want {
		t.Errorf("death = %s, want %s", got, want)
	}
	if got, want := query(t, db, "SELECT CAST(EndDate AS TEXT) FROM RegistrationHistory WHERE Patient_ID = 1"), "9999-12-31 00:00:00"; got != want {
		t.Errorf("open spell end = %s, want %s", got, want)
	}
	if got, want := query(t, db, "SELECT m.MedicationIssue_ID, d.DMD_ID, m.Quantity FROM MedicationIssue m JOIN MedicationDictionary d ON d.MultilexDrug_ID = m.MultilexDrug_ID ORDER BY 1"),
		"1|111|56\n2|111|NULL\n3|111|28.5 tablet\n4||10\n5|MULTIPLE_DMD_MAPPING|0"; got != want {
		t.Errorf("issues:\n%s\nwant\n%s", got, want)
	}
	if got, want := query(t, db, "SELECT count(DISTINCT MultilexDrug_ID) FROM MedicationIssue WHERE Patient_ID = 1 AND MultilexDrug_ID IN (SELECT MultilexDrug_ID FROM MedicationDictionary WHERE DMD_ID = '111')"), "2"; got != want {
		t.Errorf("multilex ids of one dm+d code = %s, want %s", got, want)
	}
	// SystmOne has no IMD decile column: the rank of the current address
	// holds it. Patient 1 (decile 3) has two current addresses; the one
	// with the larger id wins the tie and is of decile 3.
	if got, want := query(t, db, "SELECT ImdRankRounded FROM PatientAddress WHERE Patient_ID = 1 ORDER BY PatientAddress_ID"), "10000\n6700"; got != want {
		t.Errorf("address ranks = %s, want %s", got, want)
	}
	if DecileOfRank(6700) != 3 || DecileOfRank(10000) != 4 {
		t.Errorf("ranks 6700 and 10000 are deciles %d and %d", DecileOfRank(6700), DecileOfRank(10000))
	}
	if got, want := query(t, db, "SELECT count(*) FROM PatientAddress WHERE Patient_ID = 2 AND ImdRankRounded = -1"), "1"; got != want {
		t.Errorf("unknown-IMD addresses of patient 2 = %s, want %s", got, want)
	}
	if got, want := query(t, db, "SELECT CAST(DateOfDeath AS TEXT) FROM Patient WHERE Patient_ID = 1"), "9999-12-31 00:00:00"; got != want {
		t.Errorf("death of the living = %s, want the sentinel %s", got, want)
	}
	if got, want := query(t, db, "SELECT o.Organisation_ID FROM RegistrationHistory r JOIN Organisation o ON o.Organisation_ID = r.Organisation_ID WHERE r.Patient_ID = 1"),
		strconv.FormatInt(schema.OrganisationID("Y01234"), 10); got != want {
		t.Errorf("organisation of patient 1 = %s, want %s", got, want)
	}
	if got := query(t, db, "SELECT CAST(ConsultationDate AS TEXT) FROM MedicationIssue WHERE MedicationIssue_ID = 1"); got != "2025-01-05 09:30:00" {
		t.Errorf("consultation datetime = %s, want a time of day", got)
	}
}

func TestEMISSQLite(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	if err := Write(ctx, db, schema.SQLite, schema.EMIS, sample(), Options{Mapped: mappedOnly("111")}); err != nil {
		t.Fatal(err)
	}
	hash := schema.OrganisationHash("Y01234")
	if got, want := query(t, db, "SELECT registration_id, gender, CAST(date_of_death AS TEXT), hashed_organisation = '"+hash+"', CAST(registration_end_date AS TEXT), imd_rank FROM patient_all_orgs_v2 ORDER BY 1"),
		"1|2|NULL|1|NULL|6700\n2|0|2025-03-31|1|2025-03-31|NULL\n3|1|NULL|0|NULL|NULL"; got != want {
		t.Errorf("patients:\n%s\nwant\n%s", got, want)
	}
	if got, want := query(t, db, "SELECT registration_id, snomed_concept_id, CAST(effective_date AS TEXT) FROM medication_all_orgs_v2 ORDER BY rowid"),
		"1|111|2025-01-05 09:30:00\n1|111|2025-02-05 23:59:59\n1|111|2025-03-05 00:00:00\n1|NULL|2025-03-06 14:00:00\n2|NULL|2025-03-06 14:00:00"; got != want {
		t.Errorf("medications:\n%s\nwant\n%s", got, want)
	}
	if got, want := query(t, db, "SELECT snomed_concept_id, value_pq_1 FROM observation_all_orgs_v2 ORDER BY rowid"), "555|1.25\n555|NULL"; got != want {
		t.Errorf("observations:\n%s\nwant\n%s", got, want)
	}
	bad := sample()
	bad.Events[0].Code = "R1"
	if err := Write(ctx, openSQLite(t), schema.SQLite, schema.EMIS, bad, Options{}); err == nil || !strings.Contains(err.Error(), `code "R1" is not a SNOMED CT concept id`) {
		t.Errorf("a text code: %v", err)
	}
}

func TestForLayout(t *testing.T) {
	ds := sample()
	ds.Events[0].Value = ptr(1.255)
	if got := ForLayout(schema.TPP, ds); got != ds {
		t.Error("tpp holds a dataset as it is")
	}
	e := ForLayout(schema.EMIS, ds)
	for _, is := range e.Issues {
		if is.Quantity != nil {
			t.Errorf("issue %d keeps quantity %v in emis", is.ID, *is.Quantity)
		}
	}
	if v := *e.Events[0].Value; v != 1.26 && v != 1.25 {
		t.Errorf("value 1.255 reads %v in emis, want 2 decimal places", v)
	}
	if ds.Issues[0].Quantity == nil || *ds.Events[0].Value != 1.255 {
		t.Error("ForLayout changed its argument")
	}
}

func TestRankRange(t *testing.T) {
	prev := 0
	for d := 1; d <= 10; d++ {
		lo, hi := RankRange(d)
		if lo != prev+1 || hi < lo {
			t.Fatalf("decile %d: ranks %d..%d after %d", d, lo, hi, prev)
		}
		if DecileOfRank(lo) != d || DecileOfRank(hi) != d {
			t.Fatalf("decile %d: DecileOfRank(%d)=%d, DecileOfRank(%d)=%d", d, lo, DecileOfRank(lo), hi, DecileOfRank(hi))
		}
		prev = hi
	}
	if prev != LSOAs {
		t.Fatalf("last rank = %d, want %d", prev, LSOAs)
	}
	if lo, hi := RankRange(1); lo != 1 || hi != 3284 {
		t.Fatalf("decile 1 = %d..%d, want 1..3284", lo, hi)
	}
}

func TestValidate(t *testing.T) {
	ds := sample()
	ds.Issues[0].Quantity = ptr(1.23456)
	if err := ds.Validate(); err == nil {
		t.Fatal("5 decimal places accepted")
	}
	ds = sample()
	ds.Issues[0].Date = ds.Issues[0].Date.Add(time.Hour)
	if err := ds.Validate(); err == nil {
		t.Fatal("a time of day accepted")
	}
	ds = sample()
	ds.Events = append(ds.Events, Event{ID: 1, PatientID: 1, Date: Date(2024, 1, 1), Code: "x"})
	if err := ds.Validate(); err == nil {
		t.Fatal("duplicate event id accepted")
	}
}

func TestTSQL(t *testing.T) {
	s, err := TSQL(schema.TPP, sample(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CREATE TABLE Patient (", "'9999-12-31T00:00:00'", "'28.5 tablet'", "INSERT INTO MedicationDictionary", "INSERT INTO Organisation"} {
		if !strings.Contains(s, want) {
			t.Errorf("T-SQL lacks %q", want)
		}
	}
	stmts, err := TSQLStatements(schema.Canonical, sample(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(stmts), 8; got != want {
		t.Errorf("statements = %d, want %d", got, want)
	}
}

func TestPostgres(t *testing.T) {
	u := pgtest.NewDB(t)
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Exec("CREATE SCHEMA c; CREATE SCHEMA t"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("SET search_path = c"); err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if err := Write(ctx, db, schema.Postgres, schema.Canonical, sample(), Options{}); err != nil {
		t.Fatal(err)
	}
	if got, want := query(t, db, "SELECT issue_id, issue_date, quantity FROM medication_issues ORDER BY 1"),
		"1|2025-01-05T00:00:00Z|56.0000\n2|2025-02-05T00:00:00Z|NULL\n3|2025-03-05T00:00:00Z|28.5000\n4|2025-03-06T00:00:00Z|10.0000\n5|2025-03-06T00:00:00Z|0.0000"; got != want {
		t.Errorf("issues:\n%s\nwant\n%s", got, want)
	}
	if _, err := db.Exec("SET search_path = t"); err != nil {
		t.Fatal(err)
	}
	if err := Write(ctx, db, schema.Postgres, schema.TPP, sample(), Options{Mapped: mappedOnly("111")}); err != nil {
		t.Fatal(err)
	}
	if got, want := query(t, db, "SELECT to_char(ConsultationDate, 'YYYY-MM-DD HH24:MI:SS'), Quantity FROM MedicationIssue ORDER BY MedicationIssue_ID LIMIT 3"),
		"2025-01-05 09:30:00|56\n2025-02-05 23:59:59|NULL\n2025-03-05 00:00:00|28.5 tablet"; got != want {
		t.Errorf("issues:\n%s\nwant\n%s", got, want)
	}
}
