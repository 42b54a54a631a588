package synth

import (
	"database/sql"
	"strconv"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/searches/schema"
)

// TestTPPMatchesCanonical generates the same practice in both layouts and
// checks that the tpp tables say exactly what the canonical ones say.
func TestTPPMatchesCanonical(t *testing.T) {
	cfg := smallConfig(sqlitePatients)
	canon, _ := genSQLite(t, cfg)
	cfg.Layout = schema.TPP
	tpp, _ := genSQLite(t, cfg)
	ref := loadRef(t)
	pd := readPractice(t, canon, DefaultPractice)

	query := func(db *sql.DB, q string, f func(r *sql.Rows) error) {
		t.Helper()
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := f(rows); err != nil {
				t.Fatal(err)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Dates are read as the stored text (the sqlite driver would otherwise
	// turn DATETIME columns into time.Time).
	// Patients and addresses.
	n, sexI := 0, 0
	query(tpp, `SELECT p.Patient_ID, p.Sex, CAST(p.DateOfBirth AS TEXT), CAST(p.DateOfDeath AS TEXT), p.IMD_Decile, CAST(a.EndDate AS TEXT), a.ImdRankRounded
FROM Patient p JOIN PatientAddress a ON a.Patient_ID = p.Patient_ID ORDER BY p.Patient_ID`, func(r *sql.Rows) error {
		var id int64
		var sex, dob, addrEnd string
		var dod sql.NullString
		var imd, rank sql.NullInt64
		if err := r.Scan(&id, &sex, &dob, &dod, &imd, &addrEnd, &rank); err != nil {
			return err
		}
		n++
		p := pd.patients[id]
		want := p.sex
		if want == "U" {
			want = "I"
			sexI++
		}
		if sex != want || dob != p.dob.String()+" 00:00:00" || int(imd.Int64) != p.imd || dod.Valid != (p.dod != noDay) ||
			(dod.Valid && dod.String != p.dod.String()+" 00:00:00") {
			t.Errorf("patient %d: tpp (%s %s %v %v) canonical (%s %s %s %d)", id, sex, dob, dod, imd, p.sex, p.dob, p.dod, p.imd)
		}
		if addrEnd != "9999-12-31 00:00:00" {
			t.Errorf("patient %d: address EndDate %s", id, addrEnd)
		}
		if imd.Valid != rank.Valid {
			t.Errorf("patient %d: IMD decile %v but rank %v", id, imd, rank)
		}
		if rank.Valid {
			lo, hi := imdRankRange(int(imd.Int64))
			if int(rank.Int64) < lo || int(rank.Int64) > hi {
				t.Errorf("patient %d: rank %d outside decile %d (%d..%d)", id, rank.Int64, imd.Int64, lo, hi)
			}
		}
		return nil
	})
	if n != len(pd.ids) {
		t.Fatalf("tpp has %d patients with addresses, canonical %d", n, len(pd.ids))
	}
	// Registrations: same spells, open ones ending 9999-12-31.
	canonRegs := map[string]int{}
	for _, id := range pd.ids {
		for _, r := range pd.patients[id].regs {
			e := "9999-12-31"
			if r.end != noDay {
				e = r.end.String()
			}
			canonRegs[strconv.FormatInt(id, 10)+" "+r.ods+" "+r.start.String()+" "+e]++
		}
	}
	query(tpp, `SELECT Patient_ID, Organisation_ODS, CAST(StartDate AS TEXT), CAST(EndDate AS TEXT) FROM RegistrationHistory`, func(r *sql.Rows) error {
		var id int64
		var ods, s, e string
		if err := r.Scan(&id, &ods, &s, &e); err != nil {
			return err
		}
		if !strings.HasSuffix(s, " 00:00:00") || !strings.HasSuffix(e, " 00:00:00") {
			t.Errorf("registration dates %s %s are not datetimes", s, e)
		}
		k := strconv.FormatInt(id, 10) + " " + ods + " " + s[:10] + " " + e[:10]
		if canonRegs[k] == 0 {
			t.Errorf("tpp registration %s not in canonical", k)
		}
		canonRegs[k]--
		return nil
	})
	for k, v := range canonRegs {
		if v != 0 {
			t.Errorf("canonical registration %s unmatched (%d)", k, v)
		}
	}
	// Issues through the dictionary.
	i, withTime, withUnit, unmapped := 0, 0, 0, 0
	query(tpp, `SELECT m.MedicationIssue_ID, m.Patient_ID, CAST(m.ConsultationDate AS TEXT), d.DMD_ID, m.Quantity
FROM MedicationIssue m JOIN MedicationDictionary d ON d.MultilexDrug_ID = m.MultilexDrug_ID ORDER BY m.MedicationIssue_ID`, func(r *sql.Rows) error {
		var id, pid int64
		var when, dmd string
		var qty sql.NullString
		if err := r.Scan(&id, &pid, &when, &dmd, &qty); err != nil {
			return err
		}
		if id != int64(i+1) {
			t.Fatalf("issue id %d at position %d (unjoined dictionary row?)", id, i)
		}
		c := pd.issues[i]
		i++
		if !strings.HasSuffix(when, " 00:00:00") {
			withTime++
		}
		if pid != c.pid || when[:10] != c.date.String() {
			t.Errorf("issue %d: tpp %d %s, canonical %d %s", id, pid, when, c.pid, c.date)
		}
		switch {
		case dmd == c.code:
		case dmd == "" || dmd == "MULTIPLE_DMD_MAPPING":
			unmapped++
			if ref.inScope[c.code] || ref.gaba[c.code] || ref.benzo[c.code] {
				t.Errorf("issue %d: unmapped dictionary row for measured code %s", id, c.code)
			}
		default:
			t.Errorf("issue %d: DMD_ID %s, canonical %s", id, dmd, c.code)
		}
		if qty.Valid == c.qtyNull {
			t.Errorf("issue %d: quantity %v, canonical NULL=%v", id, qty, c.qtyNull)
		}
		if qty.Valid {
			num, unit, _ := strings.Cut(qty.String, " ")
			if unit != "" {
				withUnit++
			}
			if f, err := strconv.ParseFloat(num, 64); err != nil || f != c.qty {
				t.Errorf("issue %d: quantity %q, canonical %g", id, qty.String, c.qty)
			}
		}
		return nil
	})
	if i != len(pd.issues) {
		t.Fatalf("tpp has %d issues, canonical %d", i, len(pd.issues))
	}
	// Events.
	j := 0
	query(tpp, `SELECT CodedEvent_ID, Patient_ID, CAST(ConsultationDate AS TEXT), ConceptID FROM CodedEvent_SNOMED ORDER BY CodedEvent_ID`, func(r *sql.Rows) error {
		var id, pid int64
		var when, code string
		if err := r.Scan(&id, &pid, &when, &code); err != nil {
			return err
		}
		e := pd.events[j]
		j++
		if pid != e.pid || when[:10] != e.date.String() || code != e.code {
			t.Errorf("event %d: tpp %d %s %s, canonical %d %s %s", id, pid, when, code, e.pid, e.date, e.code)
		}
		return nil
	})
	if j != len(pd.events) {
		t.Fatalf("tpp has %d events, canonical %d", j, len(pd.events))
	}
	hc, _ := tableHash(t, canon, ScenarioTable, "patient_id")
	ht, _ := tableHash(t, tpp, ScenarioTable, "patient_id")
	if hc != ht {
		t.Error("synth_scenarios differ between layouts")
	}
	t.Logf("issues %d (with a time of day %d, quantity with unit %d, unmapped drug %d), events %d, sex I %d",
		i, withTime, withUnit, unmapped, j, sexI)
	if withTime == 0 || withUnit == 0 || unmapped == 0 {
		t.Error("tpp layout lacks times of day, quantities with units or unmapped dictionary rows")
	}
}
