package synth

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/nhs-steward/steward/searches/schema"
)

// ScenarioTable is the side table holding each patient's generated scenario.
// Searches never read it.
const ScenarioTable = "synth_scenarios"

var scenarioCols = []string{"patient_id", "scenario", "opioid_start", "opioid_end", "daily_ome", "peak_daily_ome",
	"end_daily_ome", "high_dose_from", "taper_start", "gap_start", "gap_end", "excluded_from", "product", "coprescribed"}

const scenarioIndex = `CREATE INDEX synth_scenarios_scenario ON synth_scenarios (scenario)`

func scenarioDDL(d schema.Dialect) string {
	bigint, text, date, real := "INTEGER", "TEXT", "DATE", "REAL"
	if d == schema.Postgres {
		bigint, text, real = "bigint", "text", "double precision"
	}
	return `CREATE TABLE synth_scenarios (
  patient_id     ` + bigint + ` PRIMARY KEY,
  scenario       ` + text + ` NOT NULL,
  opioid_start   ` + date + ` NULL,
  opioid_end     ` + date + ` NULL,
  daily_ome      ` + real + ` NULL,
  peak_daily_ome ` + real + ` NULL,
  end_daily_ome  ` + real + ` NULL,
  high_dose_from ` + date + ` NULL,
  taper_start    ` + date + ` NULL,
  gap_start      ` + date + ` NULL,
  gap_end        ` + date + ` NULL,
  excluded_from  ` + date + ` NULL,
  product        ` + text + ` NULL,
  coprescribed   ` + text + ` NULL
)`
}

// Table indices within a layout.
const (
	tPatients = iota
	tOrg      // tpp only
	tAddress  // tpp only
	tRegs
	tDict // tpp only
	tIssues
	tEvents
	tScenarios
	nTables
)

type tableSpec struct {
	name string
	cols []string
}

type layout struct {
	kind   schema.Layout
	tables [nTables]tableSpec // empty name: not in this layout
}

func layoutFor(l schema.Layout) *layout {
	lay := &layout{kind: l}
	lay.tables[tScenarios] = tableSpec{ScenarioTable, scenarioCols}
	switch l {
	case schema.TPP:
		lay.tables[tPatients] = tableSpec{"Patient", []string{"Patient_ID", "DateOfBirth", "Sex", "DateOfDeath"}}
		lay.tables[tOrg] = tableSpec{"Organisation", []string{"Organisation_ID", "GoLiveDate", "STPCode", "Region"}}
		lay.tables[tAddress] = tableSpec{"PatientAddress", []string{"Patient_ID", "PatientAddress_ID", "StartDate", "EndDate", "ImdRankRounded"}}
		lay.tables[tRegs] = tableSpec{"RegistrationHistory", []string{"Patient_ID", "Organisation_ID", "StartDate", "EndDate"}}
		lay.tables[tDict] = tableSpec{"MedicationDictionary", []string{"MultilexDrug_ID", "DMD_ID", "FullName"}}
		lay.tables[tIssues] = tableSpec{"MedicationIssue", []string{"MedicationIssue_ID", "Patient_ID", "ConsultationDate", "MultilexDrug_ID", "Quantity", "Dose"}}
		lay.tables[tEvents] = tableSpec{"CodedEvent_SNOMED", []string{"CodedEvent_ID", "Patient_ID", "ConsultationDate", "ConceptId", "NumericValue"}}
		return lay
	case schema.EMIS:
		// One patient_all_orgs_v2 row per registration spell.
		lay.tables[tRegs] = tableSpec{"patient_all_orgs_v2", []string{"registration_id", "nhs_no", "gender", "date_of_birth", "date_of_death",
			"hashed_organisation", "registered_date", "registration_end_date", "rural_urban", "imd_rank"}}
		lay.tables[tIssues] = tableSpec{"medication_all_orgs_v2", []string{"registration_id", "snomed_concept_id", "effective_date"}}
		lay.tables[tEvents] = tableSpec{"observation_all_orgs_v2", []string{"registration_id", "snomed_concept_id", "effective_date", "value_pq_1"}}
		return lay
	}
	lay.tables[tPatients] = tableSpec{"patients", []string{"patient_id", "sex", "date_of_birth", "date_of_death", "imd_decile"}}
	lay.tables[tRegs] = tableSpec{"registrations", []string{"patient_id", "practice_ods", "start_date", "end_date"}}
	lay.tables[tIssues] = tableSpec{"medication_issues", []string{"issue_id", "patient_id", "issue_date", "dmd_code", "quantity", "dose_text"}}
	lay.tables[tEvents] = tableSpec{"clinical_events", []string{"event_id", "patient_id", "event_date", "snomed_code", "numeric_value"}}
	return lay
}

// val is one column value.
type val struct {
	k   valKind
	i   int64
	f   float64
	s   string
	d   day
	min int16
}

type valKind uint8

const (
	kNull valKind = iota
	kInt
	kFloat
	kText
	kDate
	kDateTime
)

var null = val{}

func vInt(i int64) val               { return val{k: kInt, i: i} }
func vFloat(f float64) val           { return val{k: kFloat, f: f} }
func vText(s string) val             { return val{k: kText, s: s} }
func vDate(d day) val                { return val{k: kDate, d: d} }
func vDateTime(d day, min int16) val { return val{k: kDateTime, d: d, min: min} }
func vOptDate(d day) val             { return optDate(d, vDate) }
func optDate(d day, f func(day) val) val {
	if d == noDay {
		return null
	}
	return f(d)
}

func vOptText(s string) val {
	if s == "" {
		return null
	}
	return vText(s)
}

func vOptFloat(f float64) val {
	if f == 0 {
		return null
	}
	return vFloat(math.Round(f*1e4) / 1e4)
}

// writer is a database the emitter writes rows to.
type writer interface {
	exec(ctx context.Context, stmt string) error
	tableExists(ctx context.Context, name string) (bool, error)
	begin(ctx context.Context) error
	row(t int, vals ...val)
	flush(ctx context.Context) error
	commit(ctx context.Context) error
	finish(ctx context.Context) error
	close()
}

func prepareTables(ctx context.Context, w writer, d schema.Dialect, l schema.Layout, force bool) error {
	ddl, err := schema.DDL(d, l)
	if err != nil {
		return err
	}
	ddl = append(ddl, scenarioDDL(d))
	var names []string
	for _, stmt := range ddl {
		f := strings.Fields(stmt)
		names = append(names, f[2])
	}
	var existing []string
	for _, n := range names {
		ok, err := w.tableExists(ctx, n)
		if err != nil {
			return fmt.Errorf("check for table %s: %w", n, err)
		}
		if ok {
			existing = append(existing, n)
		}
	}
	if len(existing) > 0 {
		if !force {
			return fmt.Errorf("%w: %s (use --force to drop and replace them)", ErrTablesExist, strings.Join(existing, ", "))
		}
		for _, n := range existing {
			if err := w.exec(ctx, "DROP TABLE "+n); err != nil {
				return fmt.Errorf("drop table %s: %w", n, err)
			}
		}
	}
	for _, stmt := range ddl {
		if err := w.exec(ctx, stmt); err != nil {
			return fmt.Errorf("create table: %w", err)
		}
	}
	return nil
}

// emitter turns generated patients into rows of a layout.
type emitter struct {
	g                    *generator
	lay                  *layout
	w                    writer
	nextIssue, nextEvent int64
	nRegs, nAddress      int64
}

var openEnd = mkDay(9999, 12, 31)

// multilexID is the TPP drug id of catalogue row k.
func multilexID(k int) string { return fmt.Sprintf("%d;1;0", 100000+k) }

// unmappedID is the TPP drug id of unmapped dictionary row j.
func unmappedID(j int) string { return fmt.Sprintf("%d;2;0", 900000+j) }

// dictionary writes MedicationDictionary: every dm+d code of the catalogue
// and a few rows with no usable dm+d mapping.
func (e *emitter) dictionary(ctx context.Context) error {
	c := e.g.cat
	for k, p := range c.products {
		if p.dmdType == "" {
			continue
		}
		e.w.row(tDict, vText(multilexID(k)), vText(p.code), vText(p.name))
	}
	for j := range e.g.unmappedRows {
		dmd := ""
		if j%2 == 1 {
			dmd = "MULTIPLE_DMD_MAPPING"
		}
		name := c.products[e.g.filler[(j*131)%len(e.g.filler)]].name
		e.w.row(tDict, vText(unmappedID(j)), vText(dmd), vText(name))
	}
	return e.w.flush(ctx)
}

// organisations writes Organisation (tpp): the practice and every other
// practice a patient is registered at, under the ids schema.OrganisationID
// gives their ODS codes.
func (e *emitter) organisations(ctx context.Context) error {
	for _, ods := range append([]string{e.g.practice}, e.g.others...) {
		e.w.row(tOrg, vInt(schema.OrganisationID(ods)), vDateTime(mkDay(2009, 1, 1), 0), null, null)
	}
	return e.w.flush(ctx)
}

func (e *emitter) flush(ctx context.Context) error { return e.w.flush(ctx) }

func qtyText(is *issue, unit string) val {
	if is.qtyNull {
		return null
	}
	s := fmt.Sprint(is.qty)
	if is.withUnit && is.qty != 0 {
		s += " " + unit
	}
	return vText(s)
}

// roundedRank is an IMD rank of decile d rounded to the hundred (as
// ImdRankRounded and imd_rank hold them) inside the decile, chosen by n.
func roundedRank(d int, n int64) int64 {
	lo, hi := imdRankRange(d)
	loH, hiH := (lo+99)/100, hi/100
	if n < 0 {
		n = -n
	}
	return int64(100 * (loH + int(n%int64(hiH-loH+1))))
}

func (e *emitter) patient(p *patientRec) {
	switch e.lay.kind {
	case schema.TPP:
		e.tppPatient(p)
	case schema.EMIS:
		e.emisPatient(p)
	default:
		e.canonicalPatient(p)
	}
	s := &p.scen
	e.w.row(tScenarios, vInt(p.id), vText(s.name), vOptDate(s.start), vOptDate(s.end), vOptFloat(s.daily), vOptFloat(s.peak),
		vOptFloat(s.last), vOptDate(s.highFrom), vOptDate(s.taperStart), vOptDate(s.gapStart), vOptDate(s.gapEnd),
		vOptDate(s.excludedFrom), vOptText(s.product), vOptText(s.coprescribed))
}

func (e *emitter) canonicalPatient(p *patientRec) {
	w, c := e.w, e.g.cat
	imd := null
	if p.imd > 0 {
		imd = vInt(int64(p.imd))
	}
	w.row(tPatients, vInt(p.id), vText(string(p.sex)), vDate(p.dob), vOptDate(p.dod), imd)
	for _, r := range p.regs {
		e.nRegs++
		w.row(tRegs, vInt(p.id), vText(r.ods), vDate(r.start), vOptDate(r.end))
	}
	for k := range p.issues {
		is := &p.issues[k]
		e.nextIssue++
		q := vFloat(is.qty)
		if is.qtyNull {
			q = null
		}
		w.row(tIssues, vInt(e.nextIssue), vInt(p.id), vDate(is.date), vText(c.products[is.prod].code), q, vOptText(is.dose))
	}
	for k := range p.events {
		ev := &p.events[k]
		e.nextEvent++
		w.row(tEvents, vInt(e.nextEvent), vInt(p.id), vDate(ev.date), vText(c.products[ev.code].code), null)
	}
}

// tppPatient writes a patient as SystmOne's tables hold one: datetimes,
// the 9999-12-31 sentinels, Sex I, Organisation_IDs, Multilex drugs, text
// quantities, and an address history whose address current at any date in
// the window gives the patient's IMD decile (a patient born before the
// window moved house, or gave up a temporary address, before it began).
func (e *emitter) tppPatient(p *patientRec) {
	w, c := e.w, e.g.cat
	sex := string(p.sex)
	if p.sex == 'U' && p.id%2 == 0 {
		sex = "I"
	}
	dod := vDateTime(openEnd, 0)
	if p.dod != noDay {
		dod = vDateTime(p.dod, 0)
	}
	w.row(tPatients, vInt(p.id), vDateTime(p.dob, 0), vText(sex), dod)
	e.nAddress++
	switch {
	case p.imd > 0:
		other := vInt(roundedRank(p.imd%10+1, p.id))
		moved := e.g.start - day(1+p.id%400)
		switch {
		case moved-30 <= p.dob:
			w.row(tAddress, vInt(p.id), vInt(e.nAddress), vDateTime(p.dob, 0), vDateTime(openEnd, 0), vInt(int64(p.imdRnk)))
		case p.id%2 == 0:
			// Moved house before the window.
			w.row(tAddress, vInt(p.id), vInt(e.nAddress), vDateTime(p.dob, 0), vDateTime(moved, 0), other)
			e.nAddress++
			w.row(tAddress, vInt(p.id), vInt(e.nAddress), vDateTime(moved+1, 0), vDateTime(openEnd, 0), vInt(int64(p.imdRnk)))
		default:
			// A temporary address, given up before the window: started
			// after the home address, it would win were ended addresses
			// not left out.
			w.row(tAddress, vInt(p.id), vInt(e.nAddress), vDateTime(p.dob, 0), vDateTime(openEnd, 0), vInt(int64(p.imdRnk)))
			e.nAddress++
			w.row(tAddress, vInt(p.id), vInt(e.nAddress), vDateTime(moved-30, 0), vDateTime(moved, 0), other)
		}
	case p.id%2 == 0:
		w.row(tAddress, vInt(p.id), vInt(e.nAddress), vDateTime(p.dob, 0), vDateTime(openEnd, 0), vInt(-1))
	}
	for _, r := range p.regs {
		e.nRegs++
		end := r.end
		if end == noDay {
			end = openEnd
		}
		w.row(tRegs, vInt(p.id), vInt(schema.OrganisationID(r.ods)), vDateTime(r.start, 0), vDateTime(end, 0))
	}
	for k := range p.issues {
		is := &p.issues[k]
		e.nextIssue++
		drug := multilexID(int(is.prod))
		if is.unmapped >= 0 {
			drug = unmappedID(int(is.unmapped))
		}
		w.row(tIssues, vInt(e.nextIssue), vInt(p.id), vDateTime(is.date, is.minute), vText(drug), qtyText(is, c.products[is.prod].unit), vOptText(is.dose))
	}
	for k := range p.events {
		ev := &p.events[k]
		e.nextEvent++
		w.row(tEvents, vInt(e.nextEvent), vInt(p.id), vDateTime(ev.date, ev.minute), vText(c.products[ev.code].code), null)
	}
}

// emisPatient writes a patient as EMIS Web's tables hold one: a
// patient_all_orgs_v2 row per registration spell, keyed by a text
// registration_id, gender codes, hashed organisations, numeric codes
// (NULL for an unmapped drug), datetimes, and no quantity.
func (e *emitter) emisPatient(p *patientRec) {
	w, c := e.w, e.g.cat
	id := vText(strconv.FormatInt(p.id, 10))
	gender := int64(0)
	switch {
	case p.sex == 'M':
		gender = 1
	case p.sex == 'F':
		gender = 2
	case p.id%2 == 1:
		gender = 9
	}
	rank := null
	if p.imd > 0 {
		rank = vInt(int64(p.imdRnk))
	}
	nhs := vText(fmt.Sprintf("%010d", 9000000000+p.id%1000000000))
	for _, r := range p.regs {
		e.nRegs++
		w.row(tRegs, id, nhs, vInt(gender), vDate(p.dob), vOptDate(p.dod), vText(schema.OrganisationHash(r.ods)),
			vDate(r.start), vOptDate(r.end), null, rank)
	}
	for k := range p.issues {
		is := &p.issues[k]
		e.nextIssue++
		code := null
		if is.unmapped < 0 {
			code = conceptID(c.products[is.prod].code)
		}
		w.row(tIssues, id, code, vDateTime(is.date, is.minute))
	}
	for k := range p.events {
		ev := &p.events[k]
		e.nextEvent++
		w.row(tEvents, id, conceptID(c.products[ev.code].code), vDateTime(ev.date, ev.minute), null)
	}
}

// conceptID is a dm+d or SNOMED CT code as the number EMIS holds.
func conceptID(code string) val {
	n, err := strconv.ParseInt(code, 10, 64)
	if err != nil {
		return null
	}
	return vInt(n)
}
