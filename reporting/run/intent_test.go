package run

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/synth"
)

// TestPackAgreesWithGeneratorIntent runs the MedSIP pack's variables on a
// synthetic practice and checks them against the scenario the generator
// meant for each patient, wherever the label decides the answer:
//   - none: no in-scope issue in the 3 months, never long-term;
//   - acute_course: never long-term (never 3 consecutive months);
//   - a long-term label whose issues cover the whole 3-month window, for an
//     eligible patient (the label does not decide registration, age or
//     exclusions, so those come from the pack): long-term;
//   - long_term_stable and patch_long_term covering the window: not high dose;
//   - long_term_high_dose covering the window: high dose.
//
// Patients whose label does not decide (a trajectory that starts or ends
// inside the window, an ineligible patient) are not compared.
func TestPackAgreesWithGeneratorIntent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	db, d, err := synth.Open("sqlite:" + path)
	if err != nil {
		t.Fatal(err)
	}
	asOf := time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC)
	n := intentPatients
	if v, err := strconv.Atoi(os.Getenv("STEWARD_INTENT_PATIENTS")); err == nil && v > 0 {
		n = v // make bench runs it on 50,000 patients
	}
	if _, err := synth.Generate(ctx, db, d, synth.Config{Patients: n, Seed: 11,
		Start: time.Date(2015, 4, 1, 0, 0, 0, 0, time.UTC), End: asOf}); err != nil {
		t.Fatal(err)
	}
	labels, err := synth.ReadScenarios(ctx, db)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	pack, err := LoadPack("medsip")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open("sqlite:"+path, "canonical", pack, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := pack.Searches[0]
	names := []string{"eligible", "long_term", "high_dose", "any_opioid_3m"}
	exprs := make([]model.Expr, len(names))
	for i, n := range names {
		v := s.Variable(n)
		if v == nil {
			t.Fatalf("pack has no variable %s", n)
		}
		exprs[i] = model.ResolveExpr(v.Expr, model.AnchorAsOf)
	}
	rows, err := r.Engine.Patients(ctx, engine.Input{Plan: r.Plans[0], Practice: synth.DefaultPractice,
		Dates: model.Dates{AsOf: asOf, Baseline: asOf.AddDate(-1, 0, 0)}}, nil, exprs)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64][]bool{}
	for _, row := range rows {
		b := make([]bool, len(row.Values))
		for i, v := range row.Values {
			b[i] = v.Valid && v.Bool
		}
		got[row.PatientID] = b
	}
	windowStart := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	covers := func(l synth.Scenario) bool {
		return !l.OpioidStart.IsZero() && !l.OpioidStart.After(windowStart) &&
			!l.OpioidEnd.Before(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)) &&
			(l.GapStart.IsZero() || l.GapEnd.Before(windowStart) || l.GapStart.After(asOf))
	}
	checked := map[string]int{}
	for _, l := range labels {
		v, ok := got[l.PatientID]
		if !ok {
			continue // not in the practice's universe
		}
		eligible, longTerm, highDose, anyOpioid := v[0], v[1], v[2], v[3]
		fail := func(what string) {
			t.Errorf("patient %d labelled %s (opioids %s to %s, %.0f mg/day): %s",
				l.PatientID, l.Name, l.OpioidStart.Format(time.DateOnly), l.OpioidEnd.Format(time.DateOnly), l.DailyOME, what)
		}
		switch l.Name {
		case synth.ScenarioNone:
			if longTerm || anyOpioid {
				fail("pack finds opioids")
			}
			checked[l.Name]++
		case synth.ScenarioAcute:
			if longTerm {
				fail("pack says long-term")
			}
			checked[l.Name]++
		case synth.ScenarioLongTermStable, synth.ScenarioPatchLongTerm, synth.ScenarioHighDose, synth.ScenarioMessy:
			if !eligible || !covers(l) {
				continue
			}
			if !longTerm {
				fail("pack says not long-term")
			}
			if (l.Name == synth.ScenarioLongTermStable || l.Name == synth.ScenarioPatchLongTerm) && highDose {
				fail("pack says high dose")
			}
			if l.Name == synth.ScenarioHighDose && !highDose {
				fail("pack says not high dose")
			}
			checked[l.Name]++
		}
	}
	for _, n := range []string{synth.ScenarioNone, synth.ScenarioAcute, synth.ScenarioLongTermStable} {
		if checked[n] == 0 {
			t.Errorf("no %s patient was decided by its label: the practice is too small to test intent", n)
		}
	}
	t.Logf("patients compared with their label: %v", checked)
}
