package eval

import (
	"context"
	"errors"
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/nhs-steward/steward/searches/dataset"
	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
)

// The cases below are computed by hand; each names the rule it checks.

const practice = "Y01234"

var (
	asOf     = dataset.Date(2025, 3, 31)
	baseline = dataset.Date(2024, 3, 31)
	opioids  = &model.Codelist{Name: "opioids", Codes: []string{"111", "222"}}
	reviews  = &model.Codelist{Name: "reviews", Codes: []string{"R1"}}
	ome      = &model.Reference{Name: "ome", Values: map[string]float64{"111": 1.5, "222": 0.1}}
	highDose = &model.Parameter{Name: "high_dose", Default: 120}
)

func ptr[T any](v T) *T { return &v }

func d(y int, m time.Month, dd int) time.Time { return dataset.Date(y, m, dd) }

// person is a patient registered at the practice since 2000, born 1960.
func person(id int64) dataset.Patient {
	return dataset.Patient{ID: id, Sex: "F", DateOfBirth: d(1960, 1, 1)}
}

func spell(id int64, start time.Time, end *time.Time) dataset.Registration {
	return dataset.Registration{PatientID: id, Practice: practice, Start: start, End: end}
}

func issue(id, pid int64, date time.Time, code string, q *float64) dataset.Issue {
	return dataset.Issue{ID: id, PatientID: pid, Date: date, Code: code, Quantity: q}
}

func agg(op model.AggOp, w model.Window) *model.Aggregate {
	return &model.Aggregate{Op: op, Source: model.Issues, Codelist: opioids, Window: w}
}

func months(n int) model.Window { return model.Window{Kind: model.WindowMonths, N: n} }
func days(n int) model.Window   { return model.Window{Kind: model.WindowDays, N: n} }

var ever = model.Window{Kind: model.WindowEver}

// search builds a search whose variables are vars (in order) with one count
// measure per boolean variable and one sum measure per number variable.
func search(vars ...*model.Variable) *model.Search {
	s := &model.Search{ID: "t", Parameters: []*model.Parameter{highDose}, Codelists: []*model.Codelist{opioids, reviews},
		References: []*model.Reference{ome}, Variables: vars, AgeBands: []int{18, 40, 65, 80}}
	for _, v := range vars {
		ref := &model.VarRef{Var: v}
		switch v.Expr.Type() {
		case model.Bool:
			s.Measures = append(s.Measures, &model.Measure{ID: v.Name, Kind: model.KindCount, At: model.AnchorAsOf,
				Value: &model.Agg{Kind: model.KindCount, Where: ref}})
		case model.Number:
			s.Measures = append(s.Measures, &model.Measure{ID: v.Name, Kind: model.KindSum, At: model.AnchorAsOf,
				Value: &model.Agg{Kind: model.KindSum, Value: ref}})
		}
	}
	return s
}

func variable(name string, e model.Expr) *model.Variable { return &model.Variable{Name: name, Expr: e} }

func input(t *testing.T, s *model.Search) engine.Input {
	t.Helper()
	p, err := model.Resolve(s)
	if err != nil {
		t.Fatal(err)
	}
	return engine.Input{Plan: p, Practice: practice, Dates: model.Dates{AsOf: asOf, Baseline: baseline}}
}

// values evaluates variable v for every patient of the universe.
func values(t *testing.T, ds *dataset.Dataset, in engine.Input, v *model.Variable) map[int64]engine.Value {
	t.Helper()
	rows, err := New(ds).Patients(context.Background(), in, nil, []model.Expr{model.ResolveExpr(&model.VarRef{Var: v, At: model.AnchorAsOf}, model.AnchorAsOf)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]engine.Value{}
	for _, r := range rows {
		out[r.PatientID] = r.Values[0]
	}
	return out
}

// check evaluates v for each patient and compares with want (bool, float64
// or nil for null; a time.Time for dates).
func check(t *testing.T, ds *dataset.Dataset, in engine.Input, v *model.Variable, want map[int64]any) {
	t.Helper()
	got := values(t, ds, in, v)
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Errorf("%s: patient %d not in the universe", v.Name, id)
			continue
		}
		switch w := w.(type) {
		case nil:
			if g.Valid {
				t.Errorf("%s[%d] = %+v, want null", v.Name, id, g)
			}
		case bool:
			if !g.Valid || g.Bool != w {
				t.Errorf("%s[%d] = %v, want %v", v.Name, id, g.Bool, w)
			}
		case float64:
			if !g.Valid || math.Abs(g.Number-w) > 1e-9 {
				t.Errorf("%s[%d] = %v (valid %v), want %v", v.Name, id, g.Number, g.Valid, w)
			}
		case time.Time:
			if !g.Valid || !g.Date.Equal(w) {
				t.Errorf("%s[%d] = %v, want %v", v.Name, id, g.Date, w)
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d patients in the universe, want %d", v.Name, len(got), len(want))
	}
}

func TestUniverseAndRegistered(t *testing.T) {
	ds := &dataset.Dataset{
		Patients: []dataset.Patient{person(1), person(2), person(3), person(4), person(5), person(6), person(7)},
		Registrations: []dataset.Registration{
			spell(1, d(2000, 1, 1), nil),                             // open: registered
			spell(2, d(2000, 1, 1), ptr(d(2025, 3, 31))),             // ends on as-of: registered
			spell(3, d(2000, 1, 1), ptr(d(2025, 3, 30))),             // ended the day before: not
			spell(4, d(2000, 1, 1), nil),                             // died on as-of: not
			spell(5, d(2025, 3, 31), nil),                            // starts on as-of: registered
			spell(6, d(2000, 1, 1), ptr(d(2025, 1, 1))),              // two overlapping spells
			spell(6, d(2024, 1, 1), nil),                             //   counted once
			{PatientID: 7, Practice: "X99999", Start: d(2000, 1, 1)}, // other practice: not in universe
		},
	}
	ds.Patients[3].DateOfDeath = ptr(d(2025, 3, 31))
	reg := variable("reg", &model.Registered{})
	in := input(t, search(reg))
	check(t, ds, in, reg, map[int64]any{1: true, 2: true, 3: false, 4: false, 5: true, 6: true})
	res, err := New(ds).Evaluate(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Patients, int64(6); got != want {
		t.Errorf("universe = %d, want %d", got, want)
	}
	if got, want := res.Measures[0].Value, (engine.Number{Value: 4, Valid: true}); got != want {
		t.Errorf("count registered = %+v, want %+v", got, want)
	}
	// Died the day after as-of: still registered on as-of.
	ds.Patients[3].DateOfDeath = ptr(d(2025, 4, 1))
	check(t, ds, in, reg, map[int64]any{1: true, 2: true, 3: false, 4: true, 5: true, 6: true})
}

func TestAge(t *testing.T) {
	ds := &dataset.Dataset{
		Patients: []dataset.Patient{
			{ID: 1, Sex: "M", DateOfBirth: d(2007, 3, 31)}, // 18 exactly on as-of
			{ID: 2, Sex: "M", DateOfBirth: d(2007, 4, 1)},  // 18 tomorrow
			{ID: 3, Sex: "M", DateOfBirth: d(2004, 2, 29)}, // leap day
		},
		Registrations: []dataset.Registration{spell(1, d(2020, 1, 1), nil), spell(2, d(2020, 1, 1), nil), spell(3, d(2020, 1, 1), nil)},
	}
	a := variable("age", &model.Age{})
	adult := variable("adult", &model.Compare{Op: ">=", L: &model.Age{}, R: &model.NumberLit{Value: 18}})
	ageB := variable("age_b", &model.Age{At: model.AnchorBaseline})
	in := input(t, search(a, adult, ageB))
	check(t, ds, in, a, map[int64]any{1: 18.0, 2: 17.0, 3: 21.0})
	check(t, ds, in, adult, map[int64]any{1: true, 2: false, 3: true})
	check(t, ds, in, ageB, map[int64]any{1: 17.0, 2: 16.0, 3: 20.0})
}

func TestWindows(t *testing.T) {
	// One issue per patient; each variable asks whether it is in a window.
	dates := map[int64]time.Time{
		1: d(2025, 1, 1),   // first day of the 3 months ending 2025-03-31
		2: d(2024, 12, 31), // the day before
		3: d(2025, 3, 31),  // as-of itself
		4: d(2025, 4, 1),   // after as-of: never visible
		5: d(2024, 3, 31),  // baseline itself
		6: d(2024, 4, 1),   // the day after baseline
		7: d(2025, 3, 2),   // first day of 30 days ending as-of
		8: d(2025, 3, 1),   // the day before it
	}
	ds := &dataset.Dataset{}
	for id := int64(1); id <= 8; id++ {
		ds.Patients = append(ds.Patients, person(id))
		ds.Registrations = append(ds.Registrations, spell(id, d(2000, 1, 1), nil))
		ds.Issues = append(ds.Issues, issue(id, id, dates[id], "111", ptr(1.0)))
	}
	m3 := variable("m3", agg(model.OpExists, months(3)))
	d30 := variable("d30", agg(model.OpExists, days(30)))
	all := variable("all", agg(model.OpExists, ever))
	after := variable("after", agg(model.OpExists, model.Window{Kind: model.WindowBetween, Start: model.AnchorBaseline, End: model.AnchorAsOf}))
	m1b := variable("m1b", agg(model.OpExists, model.Window{Kind: model.WindowMonths, N: 1, End: model.AnchorBaseline}))
	everB := variable("everb", agg(model.OpExists, model.Window{Kind: model.WindowEver, End: model.AnchorBaseline}))
	// x@baseline: a months window ending "as of" inside it ends at baseline.
	m3at := variable("m3at", &model.VarRef{Var: m3, At: model.AnchorBaseline})
	in := input(t, search(m3, d30, all, after, m1b, everB, m3at))
	check(t, ds, in, m3, map[int64]any{1: true, 2: false, 3: true, 4: false, 5: false, 6: false, 7: true, 8: true})
	check(t, ds, in, d30, map[int64]any{1: false, 2: false, 3: true, 4: false, 5: false, 6: false, 7: true, 8: false})
	check(t, ds, in, all, map[int64]any{1: true, 2: true, 3: true, 4: false, 5: true, 6: true, 7: true, 8: true})
	check(t, ds, in, after, map[int64]any{1: true, 2: true, 3: true, 4: false, 5: false, 6: true, 7: true, 8: true})
	check(t, ds, in, m1b, map[int64]any{1: false, 2: false, 3: false, 4: false, 5: true, 6: false, 7: false, 8: false})
	check(t, ds, in, everB, map[int64]any{1: false, 2: false, 3: false, 4: false, 5: true, 6: false, 7: false, 8: false})
	check(t, ds, in, m3at, map[int64]any{1: false, 2: false, 3: false, 4: false, 5: true, 6: false, 7: false, 8: false})
}

func TestMonthEdges(t *testing.T) {
	// As of 2024-02-29 (leap year), 1 month = 29 days; as of 2025-02-28, 28.
	w := months(1)
	if got := w.Days(model.Dates{AsOf: d(2024, 2, 29)}); got != 29 {
		t.Fatalf("days in Feb 2024 = %d", got)
	}
	ds := &dataset.Dataset{
		Patients:      []dataset.Patient{person(1)},
		Registrations: []dataset.Registration{spell(1, d(2000, 1, 1), nil)},
		Issues: []dataset.Issue{
			issue(1, 1, d(2024, 2, 1), "111", ptr(29.0)),
			issue(2, 1, d(2024, 1, 31), "111", ptr(1000.0)),
		},
	}
	perDay := variable("per_day", &model.Aggregate{Op: model.OpSum, Source: model.Issues, Codelist: opioids, Window: w, Value: model.ValueQuantity, PerDay: true})
	s := search(perDay)
	p, err := model.Resolve(s)
	if err != nil {
		t.Fatal(err)
	}
	in := engine.Input{Plan: p, Practice: practice, Dates: model.Dates{AsOf: d(2024, 2, 29)}}
	check(t, ds, in, perDay, map[int64]any{1: 1.0})
	// A 12-month window as of 2025-03-31 starts 2024-04-01.
	if from, _, _ := months(12).Range(model.Dates{AsOf: asOf}); !from.Equal(d(2024, 4, 1)) {
		t.Fatalf("12 months from = %v", from)
	}
}

func TestOpsAndValues(t *testing.T) {
	ds := &dataset.Dataset{
		Patients:      []dataset.Patient{person(1), person(2), person(3)},
		Registrations: []dataset.Registration{spell(1, d(2000, 1, 1), nil), spell(2, d(2000, 1, 1), nil), spell(3, d(2000, 1, 1), nil)},
		Issues: []dataset.Issue{
			// Patient 1: January, February (twice, same day), March.
			issue(1, 1, d(2025, 1, 10), "111", ptr(60.0)),  // 60 x 1.5 = 90
			issue(2, 1, d(2025, 2, 10), "222", ptr(100.0)), // 100 x 0.1 = 10
			issue(3, 1, d(2025, 2, 10), "222", ptr(100.0)), // duplicate same day: counted again
			issue(4, 1, d(2025, 3, 10), "111", nil),        // NULL quantity: unknown, 0
			issue(5, 1, d(2025, 3, 11), "111", ptr(0.0)),   // zero quantity: unknown, 0
			issue(6, 1, d(2025, 3, 12), "111", ptr(-5.0)),  // negative: unknown, 0
			issue(7, 1, d(2025, 3, 13), "333", ptr(10.0)),  // not in the codelist: invisible
			issue(8, 1, d(2025, 4, 1), "111", ptr(10.0)),   // after as-of: invisible
			// Patient 2: January and March only.
			issue(9, 2, d(2025, 1, 31), "111", ptr(2.0)),
			issue(10, 2, d(2025, 3, 1), "111", ptr(2.0)),
		},
	}
	// Patient 3 has no rows.
	exists := variable("exists", agg(model.OpExists, months(3)))
	count := variable("count", agg(model.OpCount, months(3)))
	each := variable("each", agg(model.OpEachMonth, months(3)))
	sumQ := variable("sum_q", &model.Aggregate{Op: model.OpSum, Source: model.Issues, Codelist: opioids, Window: months(3), Value: model.ValueQuantity})
	sumRef := variable("sum_ref", &model.Aggregate{Op: model.OpSum, Source: model.Issues, Codelist: opioids, Window: months(3), Value: model.ValueQuantityRef, Ref: ome})
	perDay := variable("per_day", &model.Aggregate{Op: model.OpSum, Source: model.Issues, Codelist: opioids, Window: months(3), Value: model.ValueQuantityRef, Ref: ome, PerDay: true})
	unknown := variable("unknown", &model.Aggregate{Op: model.OpCount, Source: model.Issues, Codelist: opioids, Window: months(3), Value: model.ValueQuantityRef, Ref: ome, Filter: model.RowsValueUnknown})
	known := variable("known", &model.Aggregate{Op: model.OpCount, Source: model.Issues, Codelist: opioids, Window: months(3), Value: model.ValueQuantityRef, Ref: ome, Filter: model.RowsValueKnown})
	first := variable("first", agg(model.OpFirst, ever))
	last := variable("last", agg(model.OpLast, ever))
	in := input(t, search(exists, count, each, sumQ, sumRef, perDay, unknown, known, first, last))
	check(t, ds, in, exists, map[int64]any{1: true, 2: true, 3: false})
	check(t, ds, in, count, map[int64]any{1: 6.0, 2: 2.0, 3: 0.0})
	check(t, ds, in, each, map[int64]any{1: true, 2: false, 3: false})
	check(t, ds, in, sumQ, map[int64]any{1: 260.0, 2: 4.0, 3: 0.0})
	check(t, ds, in, sumRef, map[int64]any{1: 110.0, 2: 6.0, 3: 0.0})
	// 110 / 90 days = 1.2222222... -> 1.222222; 6 / 90 = 0.0666666... -> 0.066667.
	check(t, ds, in, perDay, map[int64]any{1: 1.222222, 2: 0.066667, 3: 0.0})
	check(t, ds, in, unknown, map[int64]any{1: 3.0, 2: 0.0, 3: 0.0})
	check(t, ds, in, known, map[int64]any{1: 3.0, 2: 2.0, 3: 0.0})
	check(t, ds, in, first, map[int64]any{1: d(2025, 1, 10), 2: d(2025, 1, 31), 3: nil})
	check(t, ds, in, last, map[int64]any{1: d(2025, 3, 12), 2: d(2025, 3, 1), 3: nil})

	// A code missing from the reference is unknown under quantity x ref but
	// known under quantity alone.
	ds.Issues = append(ds.Issues, dataset.Issue{ID: 11, PatientID: 3, Date: d(2025, 3, 1), Code: "111", Quantity: ptr(3.0)})
	opioids2 := &model.Codelist{Name: "opioids", Codes: []string{"111", "222", "444"}}
	ds.Issues = append(ds.Issues, dataset.Issue{ID: 12, PatientID: 3, Date: d(2025, 3, 2), Code: "444", Quantity: ptr(3.0)})
	unknown2 := variable("unknown2", &model.Aggregate{Op: model.OpCount, Source: model.Issues, Codelist: opioids2, Window: months(3), Value: model.ValueQuantityRef, Ref: ome, Filter: model.RowsValueUnknown})
	knownQ := variable("known_q", &model.Aggregate{Op: model.OpCount, Source: model.Issues, Codelist: opioids2, Window: months(3), Value: model.ValueQuantity, Filter: model.RowsValueKnown})
	in = input(t, search(unknown2, knownQ))
	check(t, ds, in, unknown2, map[int64]any{1: 3.0, 2: 0.0, 3: 1.0})
	check(t, ds, in, knownQ, map[int64]any{1: 3.0, 2: 2.0, 3: 2.0})
}

func TestEvents(t *testing.T) {
	ds := &dataset.Dataset{
		Patients:      []dataset.Patient{person(1)},
		Registrations: []dataset.Registration{spell(1, d(2000, 1, 1), nil)},
		Events: []dataset.Event{
			{ID: 1, PatientID: 1, Date: d(2025, 1, 1), Code: "R1", Value: ptr(2.5)},
			{ID: 2, PatientID: 1, Date: d(2025, 2, 1), Code: "R1", Value: ptr(-1.0)},  // negative values are known
			{ID: 3, PatientID: 1, Date: d(2025, 3, 1), Code: "R1"},                    // NULL: unknown
			{ID: 4, PatientID: 1, Date: d(2025, 6, 1), Code: "R1", Value: ptr(100.0)}, // future
		},
	}
	sum := variable("sum", &model.Aggregate{Op: model.OpSum, Source: model.Events, Codelist: reviews, Window: ever, Value: model.ValueNumericValue})
	unknown := variable("unknown", &model.Aggregate{Op: model.OpCount, Source: model.Events, Codelist: reviews, Window: ever, Value: model.ValueNumericValue, Filter: model.RowsValueUnknown})
	last := variable("last", &model.Aggregate{Op: model.OpLast, Source: model.Events, Codelist: reviews, Window: ever})
	in := input(t, search(sum, unknown, last))
	check(t, ds, in, sum, map[int64]any{1: 1.5})
	check(t, ds, in, unknown, map[int64]any{1: 1.0})
	check(t, ds, in, last, map[int64]any{1: d(2025, 3, 1)})
}

func TestNullsAndArithmetic(t *testing.T) {
	ds := &dataset.Dataset{
		Patients:      []dataset.Patient{person(1), person(2)},
		Registrations: []dataset.Registration{spell(1, d(2000, 1, 1), nil), spell(2, d(2000, 1, 1), nil)},
		Issues:        []dataset.Issue{issue(1, 1, d(2025, 3, 1), "111", ptr(4.0))},
	}
	count := agg(model.OpCount, months(3))
	// 8 / count: 8 for patient 1, null (division by zero) for patient 2.
	ratio := variable("ratio", &model.Arith{Op: "/", L: &model.NumberLit{Value: 8}, R: count})
	plus := variable("plus", &model.Arith{Op: "+", L: &model.VarRef{Var: ratio}, R: &model.NumberLit{Value: 1}})
	ge := variable("ge", &model.Compare{Op: ">=", L: &model.VarRef{Var: ratio}, R: &model.NumberLit{Value: 0}})
	lt := variable("lt", &model.Compare{Op: "<", L: &model.VarRef{Var: ratio}, R: &model.NumberLit{Value: 0}})
	ne := variable("ne", &model.Compare{Op: "!=", L: &model.VarRef{Var: ratio}, R: &model.NumberLit{Value: 0}})
	notGE := variable("not_ge", &model.Not{X: &model.VarRef{Var: ge}})
	neg := variable("neg", &model.Arith{Op: "-", L: &model.NumberLit{Value: 0}, R: &model.VarRef{Var: plus}})
	param := variable("param", &model.Compare{Op: "=", L: &model.ParamRef{Param: highDose}, R: &model.NumberLit{Value: 120}})
	or := variable("or", &model.Logic{Op: "or", L: &model.VarRef{Var: lt}, R: &model.BoolLit{Value: true}})
	and := variable("and", &model.Logic{Op: "and", L: &model.VarRef{Var: ge}, R: &model.BoolLit{Value: true}})
	firstLE := variable("first_le_last", &model.Compare{Op: "<=", L: agg(model.OpFirst, ever), R: agg(model.OpLast, ever)})
	in := input(t, search(ratio, plus, ge, lt, ne, notGE, neg, param, or, and, firstLE))
	check(t, ds, in, ratio, map[int64]any{1: 8.0, 2: nil})
	check(t, ds, in, plus, map[int64]any{1: 9.0, 2: nil})
	check(t, ds, in, ge, map[int64]any{1: true, 2: false})
	check(t, ds, in, lt, map[int64]any{1: false, 2: false})
	check(t, ds, in, ne, map[int64]any{1: true, 2: false})
	check(t, ds, in, notGE, map[int64]any{1: false, 2: true})
	check(t, ds, in, neg, map[int64]any{1: -9.0, 2: nil})
	check(t, ds, in, param, map[int64]any{1: true, 2: true})
	check(t, ds, in, or, map[int64]any{1: true, 2: true})
	check(t, ds, in, and, map[int64]any{1: true, 2: false})
	check(t, ds, in, firstLE, map[int64]any{1: true, 2: false})
	in.Params = map[string]float64{"high_dose": 90}
	check(t, ds, in, param, map[int64]any{1: false, 2: false})

	// A sum measure skips null values.
	res, err := New(ds).Evaluate(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range res.Measures {
		if m.ID == "plus" && m.Value != (engine.Number{Value: 9, Valid: true}) {
			t.Errorf("sum of plus = %+v, want 9", m.Value)
		}
	}
	in.Params = map[string]float64{"nope": 1}
	if _, err := New(ds).Evaluate(context.Background(), in); err == nil {
		t.Error("unknown parameter accepted")
	}
}

func TestMeasures(t *testing.T) {
	ds := &dataset.Dataset{
		Patients: []dataset.Patient{
			{ID: 1, Sex: "F", DateOfBirth: d(2007, 3, 31), IMDDecile: ptr(1)}, // 18: 18-39, quintile 1
			{ID: 2, Sex: "M", DateOfBirth: d(1945, 4, 1), IMDDecile: ptr(10)}, // 79: 65-79, quintile 5
			{ID: 3, Sex: "U", DateOfBirth: d(1945, 3, 31)},                    // 80: 80+, unknown
			{ID: 4, Sex: "X", DateOfBirth: d(2010, 1, 1), IMDDecile: ptr(4)},  // 15: under_18, sex U, quintile 2
			{ID: 5, Sex: "F", DateOfBirth: d(1960, 1, 1), IMDDecile: ptr(5)},  // not registered
		},
		Registrations: []dataset.Registration{
			spell(1, d(2000, 1, 1), nil), spell(2, d(2000, 1, 1), nil), spell(3, d(2000, 1, 1), nil),
			spell(4, d(2010, 1, 1), nil), spell(5, d(2000, 1, 1), ptr(d(2024, 6, 30))),
		},
		Issues: []dataset.Issue{
			issue(1, 1, d(2025, 3, 1), "111", ptr(10.0)),
			issue(2, 2, d(2025, 3, 1), "111", ptr(20.0)),
			issue(3, 5, d(2024, 3, 1), "111", ptr(20.0)),
		},
	}
	reg := variable("reg", &model.Registered{})
	users := variable("users", &model.Logic{Op: "and", L: &model.VarRef{Var: reg}, R: agg(model.OpExists, months(3))})
	qty := variable("qty", &model.Aggregate{Op: model.OpSum, Source: model.Issues, Codelist: opioids, Window: months(3), Value: model.ValueQuantity})
	s := search(reg, users, qty)
	s.Measures = []*model.Measure{
		{ID: "reg", Kind: model.KindCount, At: model.AnchorAsOf, Value: &model.Agg{Kind: model.KindCount, Where: &model.VarRef{Var: reg}},
			Stratify: []model.Dimension{model.DimSex, model.DimAgeBand, model.DimIMDQuintile}},
		{ID: "reg_b", Kind: model.KindCount, At: model.AnchorBaseline, Value: &model.Agg{Kind: model.KindCount, Where: &model.VarRef{Var: reg}, At: model.AnchorBaseline},
			Stratify: []model.Dimension{model.DimAgeBand}},
		{ID: "qty", Kind: model.KindSum, At: model.AnchorAsOf, Value: &model.Agg{Kind: model.KindSum, Where: &model.VarRef{Var: users}, Value: &model.VarRef{Var: qty}}},
		{ID: "share", Kind: model.KindRatio, At: model.AnchorAsOf, Per: 1000,
			Numerator:   &model.Agg{Kind: model.KindCount, Where: &model.VarRef{Var: users}},
			Denominator: &model.Agg{Kind: model.KindCount, Where: &model.VarRef{Var: reg}}},
		{ID: "zero", Kind: model.KindRatio, At: model.AnchorAsOf,
			Numerator:   &model.Agg{Kind: model.KindCount, Where: &model.VarRef{Var: users}},
			Denominator: &model.Agg{Kind: model.KindCount, Where: &model.BoolLit{Value: false}}},
		{ID: "everyone", Kind: model.KindCount, At: model.AnchorAsOf, Value: &model.Agg{Kind: model.KindCount}},
		{ID: "qty_nobody", Kind: model.KindSum, At: model.AnchorAsOf, Value: &model.Agg{Kind: model.KindSum, Where: &model.BoolLit{Value: false}, Value: &model.VarRef{Var: qty}}},
	}
	in := input(t, s)
	res, err := New(ds).Evaluate(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]engine.MeasureResult{}
	for _, m := range res.Measures {
		byID[m.ID] = m
	}
	num := func(f float64) engine.Number { return engine.Number{Value: f, Valid: true} }
	if got, want := byID["reg"].Value, num(4); got != want {
		t.Errorf("reg = %+v, want %+v", got, want)
	}
	wantStrata := map[string]int64{
		"sex/F": 1, "sex/M": 1, "sex/U": 2,
		"age_band/under_18": 1, "age_band/18-39": 1, "age_band/40-64": 0, "age_band/65-79": 1, "age_band/80+": 1,
		"imd_quintile/1": 1, "imd_quintile/2": 1, "imd_quintile/3": 0, "imd_quintile/4": 0, "imd_quintile/5": 1, "imd_quintile/unknown": 1,
	}
	if got, want := len(byID["reg"].Strata), len(wantStrata); got != want {
		t.Errorf("reg strata = %d, want %d (every label)", got, want)
	}
	for _, st := range byID["reg"].Strata {
		if w := wantStrata[string(st.Dimension)+"/"+st.Label]; st.Count != w {
			t.Errorf("reg %s/%s = %d, want %d", st.Dimension, st.Label, st.Count, w)
		}
	}
	// At baseline 2024-03-31: all five registered; ages 17, 78, 79, 14, 64.
	if got, want := byID["reg_b"].Value, num(5); got != want {
		t.Errorf("reg_b = %+v, want %+v", got, want)
	}
	wantB := map[string]int64{"under_18": 2, "18-39": 0, "40-64": 1, "65-79": 2, "80+": 0}
	for _, st := range byID["reg_b"].Strata {
		if w := wantB[st.Label]; st.Count != w {
			t.Errorf("reg_b %s = %d, want %d", st.Label, st.Count, w)
		}
	}
	if got, want := byID["qty"].Value, num(30); got != want {
		t.Errorf("qty = %+v, want %+v", got, want)
	}
	if got, want := byID["share"], (engine.MeasureResult{ID: "share", Numerator: num(2), Denominator: num(4), Value: num(500)}); got.Numerator != want.Numerator || got.Denominator != want.Denominator || got.Value != want.Value {
		t.Errorf("share = %+v, want %+v", got, want)
	}
	if got := byID["zero"]; got.Value.Valid || got.Denominator != num(0) || got.Numerator != num(2) {
		t.Errorf("zero = %+v, want a null value over 2/0", got)
	}
	if got, want := byID["everyone"].Value, num(5); got != want {
		t.Errorf("everyone = %+v, want %+v", got, want)
	}
	if got, want := byID["qty_nobody"].Value, num(0); got != want {
		t.Errorf("qty_nobody = %+v, want %+v", got, want)
	}
}

func TestNoBaseline(t *testing.T) {
	v := variable("b", &model.Registered{At: model.AnchorBaseline})
	in := input(t, search(v))
	in.Dates.Baseline = time.Time{}
	ds := &dataset.Dataset{Patients: []dataset.Patient{person(1)}, Registrations: []dataset.Registration{spell(1, d(2000, 1, 1), nil)}}
	if _, err := New(ds).Evaluate(context.Background(), in); !errors.Is(err, ErrNoBaseline) {
		t.Fatalf("err = %v, want ErrNoBaseline", err)
	}
}

func TestRoundSum(t *testing.T) {
	for _, c := range []struct {
		num, den int64
		want     float64
	}{
		{1, 3, 0.333333},
		{2, 3, 0.666667},
		{-2, 3, -0.666667},
		{1, 2000000, 0.000001}, // half rounds away from zero
		{-1, 2000000, -0.000001},
		{10800, 90, 120},
		{1, 4000000, 0}, // a quarter of the last place
	} {
		if got := RoundSum(big.NewRat(c.num, c.den)); got != c.want {
			t.Errorf("RoundSum(%d/%d) = %v, want %v", c.num, c.den, got, c.want)
		}
	}
	// 0.1 as written, not as the nearest binary fraction.
	if got := rat(0.1); got.Cmp(big.NewRat(1, 10)) != 0 {
		t.Errorf("rat(0.1) = %v", got)
	}
}

func TestHighDoseExactly120(t *testing.T) {
	// 10,800 mg over the 90 days of Jan-Mar 2025 is 120.0 mg/day: high dose.
	ds := &dataset.Dataset{
		Patients:      []dataset.Patient{person(1)},
		Registrations: []dataset.Registration{spell(1, d(2000, 1, 1), nil)},
		Issues: []dataset.Issue{
			issue(1, 1, d(2025, 1, 5), "222", ptr(36000.0)), // 3600 mg
			issue(2, 1, d(2025, 2, 5), "222", ptr(36000.0)),
			issue(3, 1, d(2025, 3, 5), "222", ptr(36000.0)),
		},
	}
	daily := variable("daily", &model.Aggregate{Op: model.OpSum, Source: model.Issues, Codelist: opioids, Window: months(3), Value: model.ValueQuantityRef, Ref: ome, PerDay: true})
	high := variable("high", &model.Compare{Op: ">=", L: &model.VarRef{Var: daily}, R: &model.ParamRef{Param: highDose}})
	in := input(t, search(daily, high))
	check(t, ds, in, daily, map[int64]any{1: 120.0})
	check(t, ds, in, high, map[int64]any{1: true})
}

// TestRatioValue: a ratio's value is numerator / denominator x per, with the
// denominator the raw figure (MEASURES.md's own example: 126,684 mg over 36
// adults per 1,000 is exactly 3,519,000; dividing the denominator by per
// first gives 3519000.0000000005).
func TestRatioValue(t *testing.T) {
	n := func(v float64) engine.Number { return engine.Number{Value: v, Valid: true} }
	for _, c := range []struct {
		num, den, per float64
		want          engine.Number
	}{
		{126684, 36, 1000, n(3519000)},
		{30, 41, 0, n(30.0 / 41)},
		{1, 0, 1000, engine.Number{}},
	} {
		if got := RatioValue(n(c.num), n(c.den), c.per); got != c.want {
			t.Errorf("RatioValue(%v, %v, per %v) = %+v, want %+v", c.num, c.den, c.per, got, c.want)
		}
	}
}
