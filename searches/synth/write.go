package synth

import (
	"context"
	"fmt"
	"math"
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
	if l == schema.TPP {
		lay.tables[tPatients] = tableSpec{"Patient", []string{"Patient_ID", "Sex", "DateOfBirth", "DateOfDeath", "IMD_Decile"}}
		lay.tables[tAddress] = tableSpec{"PatientAddress", []string{"PatientAddress_ID", "Patient_ID", "StartDate", "EndDate", "ImdRankRounded"}}
		lay.tables[tRegs] = tableSpec{"RegistrationHistory", []string{"Patient_ID", "Organisation_ODS", "StartDate", "EndDate"}}
		lay.tables[tDict] = tableSpec{"MedicationDictionary", []string{"MultilexDrug_ID", "DMD_ID", "FullName"}}
		lay.tables[tIssues] = tableSpec{"MedicationIssue", []string{"MedicationIssue_ID", "Patient_ID", "ConsultationDate", "MultilexDrug_ID", "Quantity", "Dose"}}
		lay.tables[tEvents] = tableSpec{"CodedEvent_SNOMED", []string{"CodedEvent_ID", "Patient_ID", "ConsultationDate", "ConceptID", "NumericValue"}}
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
	nRegs                int64
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

func (e *emitter) patient(p *patientRec) {
	w, c := e.w, e.g.cat
	tpp := e.lay.kind == schema.TPP
	imd := null
	if p.imd > 0 {
		imd = vInt(int64(p.imd))
	}
	if tpp {
		sex := string(p.sex)
		if p.sex == 'U' {
			sex = "I"
		}
		w.row(tPatients, vInt(p.id), vText(sex), vDateTime(p.dob, 0), optDate(p.dod, func(d day) val { return vDateTime(d, 0) }), imd)
		first := p.regs[0].start
		rank := null
		if p.imd > 0 {
			rank = vInt(int64(p.imdRnk))
		}
		w.row(tAddress, vInt(p.id), vInt(p.id), vDateTime(first, 0), vDateTime(openEnd, 0), rank)
	} else {
		w.row(tPatients, vInt(p.id), vText(string(p.sex)), vDate(p.dob), vOptDate(p.dod), imd)
	}
	for _, r := range p.regs {
		e.nRegs++
		if tpp {
			end := r.end
			if end == noDay {
				end = openEnd
			}
			w.row(tRegs, vInt(p.id), vText(r.ods), vDateTime(r.start, 0), vDateTime(end, 0))
		} else {
			w.row(tRegs, vInt(p.id), vText(r.ods), vDate(r.start), vOptDate(r.end))
		}
	}
	for k := range p.issues {
		is := &p.issues[k]
		e.nextIssue++
		pr := &c.products[is.prod]
		if tpp {
			drug := multilexID(int(is.prod))
			if is.unmapped >= 0 {
				drug = unmappedID(int(is.unmapped))
			}
			w.row(tIssues, vInt(e.nextIssue), vInt(p.id), vDateTime(is.date, is.minute), vText(drug), qtyText(is, pr.unit), vOptText(is.dose))
		} else {
			q := vFloat(is.qty)
			if is.qtyNull {
				q = null
			}
			w.row(tIssues, vInt(e.nextIssue), vInt(p.id), vDate(is.date), vText(pr.code), q, vOptText(is.dose))
		}
	}
	for k := range p.events {
		ev := &p.events[k]
		e.nextEvent++
		code := c.products[ev.code].code
		if tpp {
			w.row(tEvents, vInt(e.nextEvent), vInt(p.id), vDateTime(ev.date, ev.minute), vText(code), null)
		} else {
			w.row(tEvents, vInt(e.nextEvent), vInt(p.id), vDate(ev.date), vText(code), null)
		}
	}
	s := &p.scen
	w.row(tScenarios, vInt(p.id), vText(s.name), vOptDate(s.start), vOptDate(s.end), vOptFloat(s.daily), vOptFloat(s.peak),
		vOptFloat(s.last), vOptDate(s.highFrom), vOptDate(s.taperStart), vOptDate(s.gapStart), vOptDate(s.gapEnd),
		vOptDate(s.excludedFrom), vOptText(s.product), vOptText(s.coprescribed))
}
