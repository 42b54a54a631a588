package synth

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nhs-steward/steward/searches/schema"
)

// genSQLite generates a practice into a fresh SQLite file.
func genSQLite(t testing.TB, cfg Config) (*sql.DB, *Summary) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "practice.db")
	db, d, err := Open("sqlite:" + path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sum, err := Generate(context.Background(), db, d, cfg)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return db, sum
}

func parseDay(t testing.TB, s string) day {
	t.Helper()
	if len(s) < 10 {
		t.Fatalf("bad date %q", s)
	}
	tm, err := time.Parse(time.DateOnly, s[:10])
	if err != nil {
		t.Fatalf("bad date %q: %v", s, err)
	}
	return dayOf(tm)
}

// Reference sets computed straight from the shared reference files, not
// from catalog.csv, so the tests check the generator against the source.
type refSets struct {
	dmd, snomed       map[string]bool
	inScope           map[string]bool
	ome               map[string]float64 // in-scope code -> mg OME per unit (known only)
	gaba, benzo       map[string]bool
	cancer, pal, rvw  map[string]bool
	packLists         map[string]bool // every SNOMED code in a list the pack could use
	bnfOf, nameOf     map[string]string
	reviewAllTypes    map[string]bool
	carehome, opioDep map[string]bool
}

var (
	refOnce sync.Once
	refVal  *refSets
	refErr  error
)

func loadRef(t testing.TB) *refSets {
	t.Helper()
	refOnce.Do(func() { refVal, refErr = buildRef() })
	if refErr != nil {
		t.Fatalf("load reference data: %v", refErr)
	}
	return refVal
}

func buildRef() (*refSets, error) {
	r := &refSets{inScope: map[string]bool{}, ome: map[string]float64{}, gaba: map[string]bool{}, benzo: map[string]bool{},
		cancer: map[string]bool{}, pal: map[string]bool{}, rvw: map[string]bool{}, packLists: map[string]bool{},
		bnfOf: map[string]string{}, nameOf: map[string]string{}, reviewAllTypes: map[string]bool{},
		carehome: map[string]bool{}, opioDep: map[string]bool{}}
	var err error
	if r.dmd, r.snomed, err = referenceCodes(); err != nil {
		return nil, err
	}
	list := func(name string, into map[string]bool, keep func(refRow) bool) error {
		rows, err := readList(name)
		if err != nil {
			return err
		}
		for _, x := range rows {
			if keep == nil || keep(x) {
				into[x.code] = true
			}
			if x.bnf != "" {
				r.bnfOf[x.code], r.nameOf[x.code] = x.bnf, x.name
			}
		}
		return nil
	}
	inScope := func(x refRow) bool { return strings.HasPrefix(x.bnf, "0407") && !strings.HasPrefix(x.bnf, "040704") }
	for _, f := range []string{oralList, transdermalLst} {
		if err := list(f, r.inScope, inScope); err != nil {
			return nil, err
		}
	}
	if err := list(gabaList, r.gaba, nil); err != nil {
		return nil, err
	}
	if err := list(addictiveList, r.benzo, func(x refRow) bool {
		return strings.HasPrefix(x.bnf, "0401010") || strings.HasPrefix(x.bnf, "0401020")
	}); err != nil {
		return nil, err
	}
	for _, f := range cancerLists {
		if err := list(f, r.cancer, nil); err != nil {
			return nil, err
		}
	}
	if err := list(palcareList, r.pal, nil); err != nil {
		return nil, err
	}
	if err := list(medrvwList, r.rvw, nil); err != nil {
		return nil, err
	}
	if err := list(allReviewsList, r.reviewAllTypes, nil); err != nil {
		return nil, err
	}
	if err := list(carehomeList, r.carehome, nil); err != nil {
		return nil, err
	}
	if err := list(dependencyList, r.opioDep, nil); err != nil {
		return nil, err
	}
	for _, f := range append(append([]string{palcareList}, cancerLists...), reviewLists...) {
		if err := list(f, r.packLists, nil); err != nil {
			return nil, err
		}
	}
	// OME per unit: the VMP's own row, or an AMP's generic BNF code.
	rows, err := readCSV(omeVMPFile)
	if err != nil {
		return nil, err
	}
	byVMP := map[string]float64{}
	byBNF := map[string][]float64{}
	for _, m := range rows {
		w, err := strconv.ParseFloat(m["weighting"], 64)
		if err != nil {
			return nil, err
		}
		if _, err := strconv.ParseUint(m["vmp_id"], 10, 64); err != nil {
			continue
		}
		byVMP[m["vmp_id"]] = w
		byBNF[m["bnf_code"]] = append(byBNF[m["bnf_code"]], w)
	}
	for code := range r.inScope {
		if w, ok := byVMP[code]; ok {
			r.ome[code] = w
		} else if ws := byBNF[genericBNF(r.bnfOf[code])]; len(ws) == 1 {
			r.ome[code] = ws[0]
		}
	}
	return r, nil
}

// practiceData is a generated canonical practice read back from its rows.
type practiceData struct {
	ods      string
	patients map[int64]*tPatient
	ids      []int64
	issues   []tIssue
	events   []tEvent
	byPat    map[int64][]int // issue indices per patient
	evByPat  map[int64][]int
	scen     map[int64]Scenario
}

type tPatient struct {
	sex      string
	dob, dod day
	imd      int // 0 NULL
	regs     []tReg
}

type tReg struct {
	ods        string
	start, end day // end noDay open
}

type tIssue struct {
	pid     int64
	date    day
	code    string
	qty     float64
	qtyNull bool
}

type tEvent struct {
	pid  int64
	date day
	code string
}

func readPractice(t testing.TB, db *sql.DB, ods string) *practiceData {
	t.Helper()
	ctx := context.Background()
	pd := &practiceData{ods: ods, patients: map[int64]*tPatient{}, byPat: map[int64][]int{}, evByPat: map[int64][]int{}}
	q := func(query string, f func(*sql.Rows) error) {
		rows, err := db.QueryContext(ctx, query)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := f(rows); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	q(`SELECT patient_id, sex, date_of_birth, date_of_death, imd_decile FROM patients ORDER BY patient_id`, func(r *sql.Rows) error {
		var id int64
		var sex, dob string
		var dod sql.NullString
		var imd sql.NullInt64
		if err := r.Scan(&id, &sex, &dob, &dod, &imd); err != nil {
			return err
		}
		p := &tPatient{sex: sex, dob: parseDay(t, dob), dod: noDay, imd: int(imd.Int64)}
		if dod.Valid {
			p.dod = parseDay(t, dod.String)
		}
		pd.patients[id] = p
		pd.ids = append(pd.ids, id)
		return nil
	})
	q(`SELECT patient_id, practice_ods, start_date, end_date FROM registrations`, func(r *sql.Rows) error {
		var id int64
		var ods, s string
		var e sql.NullString
		if err := r.Scan(&id, &ods, &s, &e); err != nil {
			return err
		}
		rg := tReg{ods: ods, start: parseDay(t, s), end: noDay}
		if e.Valid {
			rg.end = parseDay(t, e.String)
		}
		pd.patients[id].regs = append(pd.patients[id].regs, rg)
		return nil
	})
	q(`SELECT patient_id, issue_date, dmd_code, quantity FROM medication_issues ORDER BY issue_id`, func(r *sql.Rows) error {
		var is tIssue
		var d string
		var qty sql.NullFloat64
		if err := r.Scan(&is.pid, &d, &is.code, &qty); err != nil {
			return err
		}
		is.date, is.qty, is.qtyNull = parseDay(t, d), qty.Float64, !qty.Valid
		pd.byPat[is.pid] = append(pd.byPat[is.pid], len(pd.issues))
		pd.issues = append(pd.issues, is)
		return nil
	})
	q(`SELECT patient_id, event_date, snomed_code FROM clinical_events ORDER BY event_id`, func(r *sql.Rows) error {
		var ev tEvent
		var d string
		if err := r.Scan(&ev.pid, &d, &ev.code); err != nil {
			return err
		}
		ev.date = parseDay(t, d)
		pd.evByPat[ev.pid] = append(pd.evByPat[ev.pid], len(pd.events))
		pd.events = append(pd.events, ev)
		return nil
	})
	sc, err := ReadScenarios(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	pd.scen = map[int64]Scenario{}
	for _, s := range sc {
		pd.scen[s.PatientID] = s
	}
	return pd
}

// The MedSIP definitions of MEASURES.md, evaluated in Go over the rows.

func (pd *practiceData) registered(id int64, a day) bool {
	p := pd.patients[id]
	if p.dod != noDay && p.dod <= a {
		return false
	}
	for _, r := range p.regs {
		if r.ods == pd.ods && r.start <= a && (r.end == noDay || r.end >= a) {
			return true
		}
	}
	return false
}

func (pd *practiceData) adult(id int64, a day) bool {
	return pd.registered(id, a) && pd.patients[id].dob.ageOn(a) >= 18
}

func (pd *practiceData) excluded(ref *refSets, id int64, a day) bool {
	from := monthStart(a.monthIndex() - 59)
	for _, k := range pd.evByPat[id] {
		ev := pd.events[k]
		if ref.cancer[ev.code] && ev.date >= from && ev.date <= a {
			return true
		}
		if ref.pal[ev.code] && ev.date <= a {
			return true
		}
	}
	return false
}

// opioidState returns whether id had an in-scope issue in each of the 3
// months ending a, and the 3-month daily OME.
func (pd *practiceData) opioidState(ref *refSets, id int64, a day) (everyMonth bool, dailyOME float64) {
	m := a.monthIndex()
	from := monthStart(m - 2)
	var seen [3]bool
	total := 0.0
	for _, k := range pd.byPat[id] {
		is := pd.issues[k]
		if is.date < from || is.date > a || !ref.inScope[is.code] {
			continue
		}
		seen[is.date.monthIndex()-(m-2)] = true
		if !is.qtyNull && is.qty > 0 {
			total += is.qty * ref.ome[is.code]
		}
	}
	return seen[0] && seen[1] && seen[2], total / float64(a-from+1)
}

func (pd *practiceData) reviewed(ref *refSets, id int64, a day) bool {
	from := monthStart(a.monthIndex() - 11)
	for _, k := range pd.evByPat[id] {
		ev := pd.events[k]
		if ref.rvw[ev.code] && ev.date >= from && ev.date <= a {
			return true
		}
	}
	return false
}

type measures struct {
	adults, eligible, longTerm, highDose, ltReviewed int
}

func (pd *practiceData) measure(ref *refSets, a day) measures {
	var m measures
	for _, id := range pd.ids {
		if !pd.adult(id, a) {
			continue
		}
		m.adults++
		if pd.excluded(ref, id, a) {
			continue
		}
		m.eligible++
		lt, ome := pd.opioidState(ref, id, a)
		if !lt {
			continue
		}
		m.longTerm++
		if ome >= 120 {
			m.highDose++
		}
		if pd.reviewed(ref, id, a) {
			m.ltReviewed++
		}
	}
	return m
}

func (m measures) String() string {
	return fmt.Sprintf("adults %d eligible %d long-term %d (%.2f%%) high-dose %d (%.1f%% of long-term) reviewed %.1f%%",
		m.adults, m.eligible, m.longTerm, 100*float64(m.longTerm)/float64(m.eligible), m.highDose,
		100*float64(m.highDose)/float64(max(1, m.longTerm)), 100*float64(m.ltReviewed)/float64(max(1, m.longTerm)))
}

func smallConfig(n int) Config {
	return Config{Patients: n, Seed: 42, Start: DefaultStart, End: DefaultEnd, Layout: schema.Canonical}
}

// personYears returns registered patient-years in [a, b] and the issues
// dated in registered time in that range.
func (pd *practiceData) personYears(a, b day) (years float64, issues int) {
	for _, id := range pd.ids {
		p := pd.patients[id]
		var iv []interval
		for _, r := range p.regs {
			if r.ods != pd.ods {
				continue
			}
			e := r.end
			if e == noDay || e > b {
				e = b
			}
			if p.dod != noDay && e > p.dod {
				e = p.dod
			}
			s := max(r.start, a)
			if s <= e {
				iv = append(iv, interval{s, e})
			}
		}
		iv = mergeIntervals(iv)
		for _, x := range iv {
			years += float64(x.b-x.a+1) / 365.25
		}
		for _, k := range pd.byPat[id] {
			d := pd.issues[k].date
			for _, x := range iv {
				if d >= x.a && d <= x.b {
					issues++
					break
				}
			}
		}
	}
	return years, issues
}

// churn returns, for the year [a, b], the list size at a, joiners (spells at
// the practice starting in the year, not a continuation), leavers (spells
// ending in the year other than by death) and deaths of registered patients.
func (pd *practiceData) churn(a, b day) (list, joiners, leavers, deaths int) {
	for _, id := range pd.ids {
		p := pd.patients[id]
		if pd.registered(id, a) {
			list++
		}
		if p.dod != noDay && p.dod >= a && p.dod <= b && pd.registered(id, p.dod-1) {
			deaths++
		}
		for _, r := range p.regs {
			if r.ods != pd.ods {
				continue
			}
			if r.start >= a && r.start <= b && !pd.registered(id, r.start-1) {
				joiners++
			}
			if r.end != noDay && r.end >= a && r.end <= b && (p.dod == noDay || r.end < p.dod) && !pd.registered(id, r.end+1) {
				leavers++
			}
		}
	}
	return
}
