package compile_test

import (
	"context"
	"database/sql"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/nhs-steward/steward/internal/pgtest"
	"github.com/nhs-steward/steward/searches/compile"
	"github.com/nhs-steward/steward/searches/dialect"
	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/schema"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

var testDates = model.Dates{AsOf: day("2025-03-31"), Baseline: day("2024-03-31")}

// openPractice creates a practice database of dialect d and layout l,
// loads patients, and returns it opened the way the agent opens it
// (read-only).
func openPractice(t testing.TB, d schema.Dialect, l schema.Layout, patients []tPatient) (*sql.DB, compile.Dialect) {
	t.Helper()
	var url string
	switch d {
	case schema.SQLite:
		path := filepath.Join(t.TempDir(), "practice.db")
		w, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		loadPractice(t, w, d, l, patients)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		url = "sqlite:" + path
	case schema.Postgres:
		url = pgtest.NewDB(t)
		w, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		loadPractice(t, w, d, l, patients)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("no test database for %s", d)
	}
	db, dl, err := dialect.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dl
}

type want struct {
	value    float64
	num, den float64
	ratio    bool
	strata   map[model.Dimension]map[string]int64
}

func strata(sex, age, imd map[string]int64) map[model.Dimension]map[string]int64 {
	return map[model.Dimension]map[string]int64{model.DimSex: sex, model.DimAgeBand: age, model.DimIMDQuintile: imd}
}

var wantMeasures = map[string]want{
	"registered_adults": {value: 7},
	"eligible_adults":   {value: 5},
	"long_term": {value: 3, strata: strata(
		map[string]int64{"F": 1, "M": 1, "U": 1},
		map[string]int64{"18-39": 1, "40-64": 2},
		map[string]int64{"2": 1, "4": 1, "unknown": 1})},
	"high_dose": {value: 1, strata: strata(
		map[string]int64{"F": 1},
		map[string]int64{"40-64": 1},
		map[string]int64{"2": 1})},
	"long_term_reviewed": {ratio: true, num: 1, den: 3},
	"ome_total_mg":       {value: 10951},
	"ome_per_1000":       {ratio: true, num: 10951, den: 5},
	"long_term_baseline": {value: 3, strata: strata(
		map[string]int64{"F": 1, "M": 2},
		map[string]int64{"40-64": 3},
		map[string]int64{"1": 1, "2": 1, "3": 1})},
	"high_dose_baseline":         {value: 1},
	"long_term_baseline_stopped": {ratio: true, num: 1, den: 2},
	"baseline_lost":              {value: 1},
	"ome_unknown_issues":         {value: 3},
	"universe": {value: 9, strata: map[model.Dimension]map[string]int64{
		model.DimSex: {"F": 3, "M": 5, "U": 1}}},
	"gaba_or_long": {value: 3},
}

func checkResult(t *testing.T, plan *model.Plan, res *engine.Result) {
	t.Helper()
	if got, want := res.Patients, int64(9); got != want {
		t.Errorf("Patients = %d, want %d", got, want)
	}
	if res.Rows <= 0 {
		t.Errorf("Rows = %d, want > 0", res.Rows)
	}
	if len(res.Measures) != len(plan.Measures) {
		t.Fatalf("%d measures, want %d", len(res.Measures), len(plan.Measures))
	}
	for i, m := range res.Measures {
		pm := plan.Measures[i]
		if m.ID != pm.ID {
			t.Errorf("measure %d is %s, want %s", i, m.ID, pm.ID)
		}
		w, ok := wantMeasures[m.ID]
		if !ok {
			t.Errorf("no expectation for %s", m.ID)
			continue
		}
		if w.ratio {
			if !m.Numerator.Valid || !m.Denominator.Valid || m.Numerator.Value != w.num || m.Denominator.Value != w.den {
				t.Errorf("%s = %v / %v, want %v / %v", m.ID, m.Numerator, m.Denominator, w.num, w.den)
			}
		} else if !m.Value.Valid || math.Abs(m.Value.Value-w.value) > 1e-9 {
			t.Errorf("%s = %v, want %v", m.ID, m.Value, w.value)
		}
		// Every label of every dimension, in order, zero when empty.
		var wantStrata []engine.Stratum
		for _, dim := range pm.Stratify {
			for _, l := range model.Labels(dim, plan.Search.AgeBands) {
				wantStrata = append(wantStrata, engine.Stratum{Dimension: dim, Label: l, Count: w.strata[dim][l]})
			}
		}
		if len(m.Strata) != len(wantStrata) {
			t.Errorf("%s: strata %v, want %v", m.ID, m.Strata, wantStrata)
			continue
		}
		for j := range wantStrata {
			if m.Strata[j] != wantStrata[j] {
				t.Errorf("%s: stratum %d = %+v, want %+v", m.ID, j, m.Strata[j], wantStrata[j])
			}
		}
	}
}

// patientExprs are the variables the per-patient test reads.
var patientExprs = []string{"long_term", "daily_ome", "last_review", "first_opioid", "age", "registered",
	"opioid_issues_12m", "ome_unknown_3m", "ome_per_issue", "long_each_24", "long_each_40", "gabapentinoid_3m", "high_dose"}

type pv = map[string]any // variable -> bool, float64, string date, or nil

var wantPatients = map[int64]pv{
	1:  {"long_term": true, "daily_ome": 120.0, "last_review": "2024-06-01", "first_opioid": "2024-01-15", "age": 64.0, "registered": true, "opioid_issues_12m": 3.0, "ome_unknown_3m": 0.0, "ome_per_issue": 3600.0, "long_each_24": false, "long_each_40": false, "gabapentinoid_3m": false, "high_dose": true},
	2:  {"long_term": true, "daily_ome": 0.622222, "last_review": nil, "first_opioid": "2025-01-10", "age": 18.0, "registered": true, "opioid_issues_12m": 4.0, "ome_unknown_3m": 2.0, "ome_per_issue": 14.0, "high_dose": false},
	3:  {"long_term": false, "registered": true, "age": 75.0, "daily_ome": 0.333333},
	4:  {"long_term": false, "registered": false, "age": 54.0},
	5:  {"long_term": true, "daily_ome": 1.0, "gabapentinoid_3m": true, "age": 45.0},
	7:  {"long_term": false, "opioid_issues_12m": 2.0, "ome_unknown_3m": 1.0, "daily_ome": 0.055556},
	8:  {"registered": true, "age": 85.0},
	9:  {"long_term": false, "daily_ome": 0.0, "opioid_issues_12m": 0.0, "ome_per_issue": nil, "first_opioid": "2024-01-01"},
	10: {"long_each_24": true, "long_each_40": true, "registered": false, "last_review": nil},
}

func checkPatients(t *testing.T, rows []engine.PatientRow, ids []int64) {
	t.Helper()
	if len(rows) != len(ids) {
		t.Fatalf("%d patients, want %d (%v)", len(rows), len(ids), ids)
	}
	for i, r := range rows {
		if r.PatientID != ids[i] {
			t.Fatalf("patient %d is %d, want %d", i, r.PatientID, ids[i])
		}
		w := wantPatients[r.PatientID]
		for j, name := range patientExprs {
			exp, ok := w[name]
			if !ok {
				continue
			}
			v := r.Values[j]
			switch e := exp.(type) {
			case nil:
				if v.Valid {
					t.Errorf("patient %d %s = %+v, want null", r.PatientID, name, v)
				}
			case bool:
				if !v.Valid || v.Bool != e {
					t.Errorf("patient %d %s = %+v, want %v", r.PatientID, name, v, e)
				}
			case float64:
				if !v.Valid || math.Abs(v.Number-e) > 1e-6 {
					t.Errorf("patient %d %s = %+v, want %v", r.PatientID, name, v, e)
				}
			case string:
				if !v.Valid || v.Date.Format(time.DateOnly) != e {
					t.Errorf("patient %d %s = %+v, want %v", r.PatientID, name, v, e)
				}
			}
		}
	}
}

func runEngine(t *testing.T, d schema.Dialect, l schema.Layout) {
	ts := newTestSearch([]string{"OP1", "OP2", "SHARED", "NOOME"})
	plan := ts.plan()
	db, dl := openPractice(t, d, l, testPatients())
	prof := bound(t, l)
	eng := compile.NewEngine(db, dl, prof)
	in := engine.Input{Plan: plan, Practice: practice, Dates: testDates}
	ctx := context.Background()
	res, err := eng.Evaluate(ctx, in)
	if err != nil {
		st, _ := compile.SQL(plan, dl, prof, compile.Options{Practice: practice, Dates: testDates})
		if st != nil {
			t.Log(st.String())
		}
		t.Fatal(err)
	}
	checkResult(t, plan, res)

	var exprs []model.Expr
	for _, n := range patientExprs {
		exprs = append(exprs, ts.expr(n))
	}
	rows, err := eng.Patients(ctx, in, nil, exprs)
	if err != nil {
		t.Fatal(err)
	}
	checkPatients(t, rows, []int64{1, 2, 3, 4, 5, 7, 8, 9, 10})
	rows, err = eng.Patients(ctx, in, ts.expr("eligible"), exprs)
	if err != nil {
		t.Fatal(err)
	}
	checkPatients(t, rows, []int64{1, 2, 5, 7, 9})

	// A parameter override: at 1 mg/day, P5 (1.0 exactly) is high dose too.
	in.Params = map[string]float64{"high_dose_mg_per_day": 1}
	res, err = eng.Evaluate(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range res.Measures {
		if m.ID == "high_dose" && m.Value.Value != 2 {
			t.Errorf("high_dose at 1 mg/day = %v, want 2", m.Value)
		}
	}
}

func TestEngine(t *testing.T) {
	for _, d := range []schema.Dialect{schema.SQLite, schema.Postgres} {
		for _, l := range []schema.Layout{schema.Canonical, schema.TPP} {
			t.Run(string(d)+"/"+string(l), func(t *testing.T) { runEngine(t, d, l) })
		}
	}
}
