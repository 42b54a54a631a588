package measures

import (
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
)

func num(v float64) engine.Number { return engine.Number{Value: v, Valid: true} }

func TestDocument(t *testing.T) {
	s := &model.Search{
		ID:         "s",
		AgeBands:   []int{18, 40, 65, 80},
		Parameters: []*model.Parameter{{Name: "high", Default: 120}},
		Codelists:  []*model.Codelist{{Name: "opioids", Files: []model.CodelistFile{{Path: "../../codelists/x.csv", Version: "v1", SHA256: strings.Repeat("ab", 32)}}}},
	}
	plan := &model.Plan{Search: s, Measures: []*model.PlannedMeasure{
		{Measure: &model.Measure{ID: "long_term", Kind: model.KindCount, Stratify: []model.Dimension{model.DimSex, model.DimAgeBand}}},
		{Measure: &model.Measure{ID: "reviewed", Kind: model.KindRatio}},
		{Measure: &model.Measure{ID: "empty_ratio", Kind: model.KindRatio}},
		{Measure: &model.Measure{ID: "per_1000", Kind: model.KindRatio, Per: 1000}},
		{Measure: &model.Measure{ID: "total", Kind: model.KindSum, At: model.AnchorBaseline}},
	}}
	res := &engine.Result{Measures: []engine.MeasureResult{
		{ID: "long_term", Value: num(41), Strata: []engine.Stratum{
			{Dimension: model.DimSex, Label: "M", Count: 11}, {Dimension: model.DimSex, Label: "F", Count: 30},
			{Dimension: model.DimAgeBand, Label: "under_18", Count: 0}, {Dimension: model.DimAgeBand, Label: "40-64", Count: 41},
		}},
		{ID: "reviewed", Numerator: num(30), Denominator: num(41)},
		{ID: "empty_ratio", Numerator: num(0), Denominator: num(0)},
		{ID: "per_1000", Numerator: num(123456.5), Denominator: num(2500)},
		{ID: "total", Value: num(10.123456)},
	}}
	asOf := time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC)
	d, err := Document(Meta{
		Practice: "Y01234", Pack: &model.Pack{ID: "medsip", Version: "2026.1.0"},
		Dates:  model.Dates{AsOf: asOf, Baseline: asOf.AddDate(-1, 0, 0)},
		Params: map[string]float64{"high": 90},
	}, []Run{{Plan: plan, Result: res}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Validate(); err != nil {
		t.Fatalf("built document does not validate: %v", err)
	}
	if got, want := d.Baseline, "2024-03-31"; got != want {
		t.Errorf("baseline = %q, want %q", got, want)
	}
	if got := *d.Find("reviewed").Value; got != 0.7317 {
		t.Errorf("reviewed value = %v, want 0.7317", got)
	}
	if d.Find("empty_ratio").Value != nil {
		t.Errorf("ratio with zero denominator has value %v, want null", *d.Find("empty_ratio").Value)
	}
	p := d.Find("per_1000")
	if *p.Denominator != 2500 || *p.Value != 49382.6 || p.Per != 1000 {
		t.Errorf("per_1000 = %v/%v = %v per %v, want 123456.5/2500 x 1000 = 49382.6", *p.Numerator, *p.Denominator, *p.Value, p.Per)
	}
	if got := *d.Find("total").Value; got != 10.1235 {
		t.Errorf("sum value = %v, want 10.1235", got)
	}
	if got := d.Find("total").At; got != "baseline" {
		t.Errorf("total at = %q, want baseline", got)
	}
	lt := d.Find("long_term")
	if len(lt.Strata) != 2 {
		t.Fatalf("long_term has %d stratifications, want 2", len(lt.Strata))
	}
	var labels []string
	for _, c := range lt.Strata[0].Cells {
		labels = append(labels, c.Stratum)
	}
	if got, want := labels, []string{"F", "M", "U"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("sex strata = %v, want %v", got, want)
	}
	if got := *lt.Strata[0].Cells[2].Value; got != 0 {
		t.Errorf("empty stratum U = %v, want 0", got)
	}
	for _, c := range lt.Strata[1].Cells {
		if c.Stratum == "under_18" {
			t.Errorf("empty under_18 stratum listed")
		}
	}
	if got := d.Parameters["high"]; got != "90" {
		t.Errorf("parameter high = %q, want the override 90", got)
	}
	if len(d.References) != 1 || d.References[0].Version != "v1" {
		t.Errorf("references = %+v, want the codelist at v1", d.References)
	}
	_ = results.Schema
}
