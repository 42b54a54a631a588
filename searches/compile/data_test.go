package compile_test

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/searches/dataset"
	"github.com/nhs-steward/steward/searches/profile"
	"github.com/nhs-steward/steward/searches/schema"
)

// The hand-made practice. Dates are YYYY-MM-DD; the tpp writer turns them
// into datetimes at 14:00 (events and issues) or midnight.
type tPatient struct {
	id      int64
	sex     string // canonical; tppSex overrides in the tpp layout
	tppSex  string
	dob     string
	dod     string
	imd     *int64     // canonical decile; in tpp the rank of the address current at the as-of date
	address []tAddress // tpp; when none, a patient with imd gets one address of that decile
	regs    []tReg
	issues  []tIssue
	events  []tEvent
}

type tAddress struct {
	start, end string // end "" = the 9999-12-31 sentinel
	rank       *int64
}

type tReg struct{ ods, start, end string }

type tIssue struct {
	date, code string
	qty        *float64
	tppQty     *string // the Quantity text in tpp, when not the number itself
	tppDrug    string  // a Multilex id to use instead of the code's (tpp only)
	tppOnly    bool
}

type tEvent struct {
	date, code string
	value      *float64
}

func f(v float64) *float64 { return &v }
func i64(v int64) *int64   { return &v }
func s(v string) *string   { return &v }

const practice = "Y01234"

func monthly(code string, qty float64, dates ...string) []tIssue {
	var out []tIssue
	for _, d := range dates {
		out = append(out, tIssue{date: d, code: code, qty: f(qty)})
	}
	return out
}

func testPatients() []tPatient {
	open := func(start string) []tReg { return []tReg{{ods: practice, start: start}} }
	return []tPatient{
		{ // long-term, exactly 120 mg/day on issues on the first and last days of months; reviewed
			id: 1, sex: "F", dob: "1960-05-01", imd: i64(3), regs: open("2010-01-01"),
			address: []tAddress{{start: "2001-01-01", end: "2011-01-01", rank: i64(32000)}, {start: "2011-01-01", rank: i64(6600)}},
			issues: append(append(monthly("OP1", 3600, "2025-01-01", "2025-02-28", "2025-03-31"),
				monthly("OP1", 100, "2024-01-15", "2024-02-15", "2024-03-15")...),
				tIssue{date: "2025-04-01", code: "OP1", qty: f(99999)}), // after the as-of date
			events: []tEvent{{date: "2024-06-01", code: "R1"}, {date: "2023-01-01", code: "R2"}},
		},
		{ // 18 exactly on the as-of date; NULL, zero and duplicate quantities
			id: 2, sex: "M", dob: "2007-03-31", regs: open("2020-01-01"),
			issues: []tIssue{
				{date: "2025-01-10", code: "OP2", tppQty: s("as directed")},
				{date: "2025-02-10", code: "OP2", qty: f(0)},
				{date: "2025-03-10", code: "OP1", qty: f(28), tppQty: s("28 tablet")},
				{date: "2025-03-10", code: "OP1", qty: f(28), tppQty: s(" 28")},
				{date: "2025-04-01", code: "OP1", qty: f(1000)},
			},
		},
		{ // registration ends on the as-of date; cancer exactly 60 months back
			id: 3, sex: "F", dob: "1950-01-01", imd: i64(10),
			regs:   []tReg{{ods: practice, start: "2015-01-01", end: "2025-03-31"}},
			issues: monthly("OP1", 10, "2025-01-05", "2025-02-05", "2025-03-05"),
			events: []tEvent{{date: "2020-04-01", code: "C1"}},
		},
		{ // died on the as-of date; long-term at baseline
			id: 4, sex: "M", dob: "1970-06-15", dod: "2025-03-31", imd: i64(5), regs: open("2000-01-01"),
			issues: append(monthly("OP1", 10, "2025-01-05", "2025-02-05", "2025-03-05"),
				monthly("OP1", 10, "2024-01-05", "2024-02-05", "2024-03-05")...),
		},
		{ // sex I; cancer one day before the 60 months; palliative after the as-of date; a code in two codelists
			id: 5, sex: "U", tppSex: "I", dob: "1980-01-01", imd: i64(7), regs: open("2019-01-01"),
			address: []tAddress{{start: "2010-01-01", end: "2019-01-01", rank: i64(1)}, {start: "2019-01-01", rank: i64(22000)}},
			issues:  monthly("SHARED", 10, "2025-01-20", "2025-02-20", "2025-03-20"),
			events:  []tEvent{{date: "2020-03-31", code: "C2"}, {date: "2025-04-15", code: "P1"}},
		},
		{ // registered elsewhere only: not in the universe
			id: 6, sex: "F", dob: "1990-01-01", regs: []tReg{{ods: "Z99999", start: "2010-01-01"}},
			issues: monthly("OP1", 10, "2025-01-05", "2025-02-05", "2025-03-05"),
		},
		{ // no February issue; an issue without OME; unmapped drug in February (tpp)
			id: 7, sex: "M", dob: "1985-07-07", imd: i64(1), regs: []tReg{{ods: practice, start: "2024-06-01"}, {ods: "Z99999", start: "2010-01-01", end: "2024-05-31"}},
			issues: []tIssue{
				{date: "2025-01-02", code: "NOOME", qty: f(20)},
				{date: "2025-03-02", code: "OP1", qty: f(5), tppQty: s("5 tablet")},
				{date: "2025-02-02", code: "OP1", qty: f(5), tppDrug: "ML_MULTI", tppOnly: true},
			},
		},
		{ // palliative care
			id: 8, sex: "F", dob: "1940-01-01", imd: i64(9), regs: open("1990-01-01"),
			issues: append(monthly("OP1", 10, "2025-01-05", "2025-02-05", "2025-03-05"), monthly("OP1", 10, "2024-01-05", "2024-02-05", "2024-03-05")...),
			events: []tEvent{{date: "2024-01-01", code: "P1"}},
		},
		{ // high dose at baseline (10,920 mg over 91 days), stopped since; unmapped drug (tpp)
			id: 9, sex: "M", dob: "1975-01-01", imd: i64(1), regs: open("2005-01-01"),
			address: []tAddress{{start: "2005-01-01", rank: i64(100)}},
			issues: append(monthly("OP1", 3640, "2024-01-01", "2024-02-29", "2024-03-31"),
				tIssue{date: "2025-02-02", code: "OP1", qty: f(5), tppDrug: "ML_EMPTY", tppOnly: true}),
		},
		{ // dead long ago (in the universe, in no measure): an opioid in each of 40 months
			id: 10, sex: "M", dob: "1950-01-01", dod: "2020-01-01", regs: open("2000-01-01"),
			issues: func() []tIssue {
				var out []tIssue
				for m := 0; m < 40; m++ {
					y, mo := 2021+(11+m)/12, (11+m)%12+1
					out = append(out, tIssue{date: fmt.Sprintf("%04d-%02d-15", y, mo), code: "OP1", qty: f(1)})
				}
				return out
			}(),
		},
	}
}

// placeholders returns n placeholders of a dialect.
func placeholders(d schema.Dialect, n int) string {
	p := make([]string, n)
	for i := range p {
		switch d {
		case schema.Postgres:
			p[i] = "$" + strconv.Itoa(i+1)
		case schema.SQLServer:
			p[i] = "@p" + strconv.Itoa(i+1)
		default:
			p[i] = "?"
		}
	}
	return strings.Join(p, ", ")
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func ptr[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// loadPractice creates the tables of layout and inserts the patients.
func loadPractice(t testing.TB, db *sql.DB, d schema.Dialect, layout schema.Layout, patients []tPatient) {
	t.Helper()
	ctx := context.Background()
	ddl, err := schema.DDL(d, layout)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range append(ddl, schema.Indexes(d, layout)...) {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	ins := func(table string, vals ...any) {
		t.Helper()
		q := fmt.Sprintf("INSERT INTO %s VALUES (%s)", table, placeholders(d, len(vals)))
		if _, err := db.ExecContext(ctx, q, vals...); err != nil {
			t.Fatalf("%s %v: %v", q, vals, err)
		}
	}
	id := int64(0)
	next := func() int64 { id++; return id }
	switch layout {
	case schema.Canonical:
		for _, p := range patients {
			ins("patients", p.id, p.sex, p.dob, nullable(p.dod), ptr(p.imd))
			for _, r := range p.regs {
				ins("registrations", p.id, r.ods, r.start, nullable(r.end))
			}
			for _, is := range p.issues {
				if is.tppOnly {
					continue
				}
				ins("medication_issues", next(), p.id, is.date, is.code, ptr(is.qty), "1 daily")
			}
			for _, e := range p.events {
				ins("clinical_events", next(), p.id, e.date, e.code, ptr(e.value))
			}
		}
	case schema.TPP:
		dt := func(date, clock string) any {
			if date == "" {
				return nil
			}
			return date + " " + clock
		}
		drugs := map[string]string{"ML_EMPTY": "", "ML_MULTI": "MULTIPLE_DMD_MAPPING"}
		orgs := map[string]string{}
		for _, p := range patients {
			for _, is := range p.issues {
				if is.tppDrug == "" {
					drugs["ML_"+is.code] = is.code
				}
			}
			for _, r := range p.regs {
				orgs[strconv.FormatInt(schema.OrganisationID(r.ods), 10)] = r.ods
			}
		}
		for _, ml := range sortedKeys(drugs) {
			ins("MedicationDictionary", ml, drugs[ml], "drug "+ml)
		}
		for _, id := range sortedKeys(orgs) {
			n, _ := strconv.ParseInt(id, 10, 64)
			ins("Organisation", n, "2009-01-01 00:00:00", nil, nil)
		}
		for _, p := range patients {
			sex := p.sex
			if p.tppSex != "" {
				sex = p.tppSex
			}
			dod := p.dod
			if dod == "" {
				dod = "9999-12-31"
			}
			ins("Patient", p.id, dt(p.dob, "00:00:00"), sex, dt(dod, "09:30:00"))
			addrs := p.address
			if len(addrs) == 0 && p.imd != nil {
				_, hi := dataset.RankRange(int(*p.imd))
				addrs = []tAddress{{start: p.dob, rank: i64(int64(hi))}}
			}
			for _, a := range addrs {
				end := a.end
				if end == "" {
					end = "9999-12-31"
				}
				rank := int64(-1)
				if a.rank != nil {
					rank = *a.rank
				}
				ins("PatientAddress", p.id, next(), dt(a.start, "00:00:00"), dt(end, "00:00:00"), rank)
			}
			for _, r := range p.regs {
				end := r.end
				if end == "" {
					end = "9999-12-31"
				}
				ins("RegistrationHistory", p.id, schema.OrganisationID(r.ods), dt(r.start, "00:00:00"), dt(end, "00:00:00"))
			}
			for _, is := range p.issues {
				drug := "ML_" + is.code
				if is.tppDrug != "" {
					drug = is.tppDrug
				}
				var qty any
				if is.qty != nil {
					qty = strconv.FormatFloat(*is.qty, 'f', -1, 64)
				}
				if is.tppQty != nil {
					qty = *is.tppQty
				}
				ins("MedicationIssue", next(), p.id, dt(is.date, "14:00:00"), drug, qty, "1 daily")
			}
			for _, e := range p.events {
				ins("CodedEvent_SNOMED", next(), p.id, dt(e.date, "14:00:00"), e.code, ptr(e.value))
			}
		}
	}
}

// bound returns the built-in profile of layout l with its parameters set
// for the test practice as loadPractice wrote it.
func bound(t testing.TB, l schema.Layout) *profile.Profile {
	t.Helper()
	p, err := profile.Lookup(string(l))
	if err != nil {
		t.Fatal(err)
	}
	if p, err = p.Bind(schema.Parameters(l, practice)); err != nil {
		t.Fatal(err)
	}
	return p
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
