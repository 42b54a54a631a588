package synth

import (
	"database/sql"
	"strconv"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/searches/schema"
)

// TestTPPMatchesCanonical generates the same practice in two layouts and
// checks that SystmOne's tables say exactly what the canonical ones say.
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
	// Patients and addresses: SystmOne has no IMD decile column; the rank
	// of the address current in the window holds it.
	n, sexI, moved := 0, 0, 0
	window := DefaultStart.Format("2006-01-02")
	query(tpp, `SELECT p.Patient_ID, p.Sex, CAST(p.DateOfBirth AS TEXT), CAST(p.DateOfDeath AS TEXT),
       (SELECT a.ImdRankRounded FROM PatientAddress a WHERE a.Patient_ID = p.Patient_ID AND a.EndDate = '9999-12-31 00:00:00'),
       (SELECT count(*) FROM PatientAddress a WHERE a.Patient_ID = p.Patient_ID),
       (SELECT max(CAST(a.EndDate AS TEXT)) FROM PatientAddress a WHERE a.Patient_ID = p.Patient_ID AND a.EndDate < '9999-12-31')
FROM Patient p ORDER BY p.Patient_ID`, func(r *sql.Rows) error {
		var id, addresses int64
		var sex, dob, dod string
		var rank sql.NullInt64
		var oldEnd sql.NullString
		if err := r.Scan(&id, &sex, &dob, &dod, &rank, &addresses, &oldEnd); err != nil {
			return err
		}
		n++
		p := pd.patients[id]
		want := p.sex
		if want == "U" && id%2 == 0 {
			want = "I"
			sexI++
		}
		wantDod := "9999-12-31 00:00:00"
		if p.dod != noDay {
			wantDod = p.dod.String() + " 00:00:00"
		}
		if sex != want || dob != p.dob.String()+" 00:00:00" || dod != wantDod {
			t.Errorf("patient %d: tpp (%s %s %s) canonical (%s %s %s)", id, sex, dob, dod, p.sex, p.dob, p.dod)
		}
		switch {
		case p.imd > 0:
			lo, hi := imdRankRange(p.imd)
			if !rank.Valid || int(rank.Int64) < lo || int(rank.Int64) > hi || rank.Int64%100 != 0 {
				t.Errorf("patient %d: current address rank %v outside decile %d (%d..%d) or not rounded", id, rank, p.imd, lo, hi)
			}
			if oldEnd.Valid {
				moved++
				if oldEnd.String >= window {
					t.Errorf("patient %d: an earlier address ends %s, inside the window", id, oldEnd.String)
				}
			}
		case id%2 == 0:
			if !rank.Valid || rank.Int64 != -1 || addresses != 1 {
				t.Errorf("patient %d with no IMD: rank %v on %d addresses, want one of -1", id, rank, addresses)
			}
		default:
			if addresses != 0 {
				t.Errorf("patient %d with no IMD: %d addresses, want none", id, addresses)
			}
		}
		return nil
	})
	if n != len(pd.ids) || moved == 0 {
		t.Fatalf("tpp has %d patients (%d moved house), canonical %d", n, moved, len(pd.ids))
	}
	orgs := map[int64]string{}
	for _, id := range pd.ids {
		for _, r := range pd.patients[id].regs {
			orgs[schema.OrganisationID(r.ods)] = r.ods
		}
	}
	var inOrganisation int
	if err := tpp.QueryRow(`SELECT count(*) FROM RegistrationHistory r JOIN Organisation o ON o.Organisation_ID = r.Organisation_ID`).Scan(&inOrganisation); err != nil {
		t.Fatal(err)
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
	nRegs := 0
	query(tpp, `SELECT Patient_ID, Organisation_ID, CAST(StartDate AS TEXT), CAST(EndDate AS TEXT) FROM RegistrationHistory`, func(r *sql.Rows) error {
		var id, org int64
		var s, e string
		if err := r.Scan(&id, &org, &s, &e); err != nil {
			return err
		}
		nRegs++
		ods := orgs[org]
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
	if inOrganisation != nRegs {
		t.Errorf("%d of %d registrations name an Organisation_ID that Organisation holds", inOrganisation, nRegs)
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
	query(tpp, `SELECT CodedEvent_ID, Patient_ID, CAST(ConsultationDate AS TEXT), ConceptId FROM CodedEvent_SNOMED ORDER BY CodedEvent_ID`, func(r *sql.Rows) error {
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
