package web

import (
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/results"
)

func TestThousands(t *testing.T) {
	for _, c := range []struct {
		v    float64
		d    int
		want string
	}{
		{101683.5985, 1, "101,683.6"}, {101683.5985, 0, "101,684"}, {999, 0, "999"}, {1000, 0, "1,000"},
		{1234567.891, 2, "1,234,567.89"}, {-1234.5, 1, "-1,234.5"}, {-0.01, 1, "0.0"}, {0, 0, "0"}, {12, 1, "12.0"},
	} {
		if got := Thousands(c.v, c.d); got != c.want {
			t.Errorf("Thousands(%v, %d) = %q, want %q", c.v, c.d, got, c.want)
		}
	}
}

func TestPercentMoneyMonth(t *testing.T) {
	for v, want := range map[float64]string{0.7636: "76.4%", 0.5: "50.0%", 1: "100.0%", 0.00049: "0.0%", 0.7429: "74.3%"} {
		if got := Percent(v); got != want {
			t.Errorf("Percent(%v) = %q, want %q", v, got, want)
		}
	}
	for p, want := range map[int64]string{123456: "£1,234.56", 0: "£0.00", 5: "£0.05", 39000: "£390.00", 123456789: "£1,234,567.89", -150: "-£1.50"} {
		if got := Money(p); got != want {
			t.Errorf("Money(%d) = %q, want %q", p, got, want)
		}
	}
	for in, want := range map[string]string{"2026-12-31": "December 2026", "2025-03": "March 2025", "2025-03-31": "March 2025", "soon": "soon"} {
		if got := Month(in); got != want {
			t.Errorf("Month(%q) = %q, want %q", in, got, want)
		}
	}
	if got, want := ShortMonth("2025-03-31"), "Mar 2025"; got != want {
		t.Errorf("ShortMonth = %q, want %q", got, want)
	}
	if got, want := When(time.Date(2026, 12, 4, 21, 37, 0, 0, time.UTC)), "4 December 2026, 21:37 UTC"; got != want {
		t.Errorf("When = %q, want %q", got, want)
	}
}

// Every figure reads with its unit: patients, mg OME, a rate per 1,000
// adults, a proportion as a percentage.
func TestFormatFigure(t *testing.T) {
	v := func(f float64) *float64 { return &f }
	omeSpec := &results.MeasureSpec{ID: "ome_per_1000", Kind: "ratio", Per: 1000, DenominatorPatients: true}
	for _, c := range []struct {
		id, kind string
		per      float64
		spec     *results.MeasureSpec
		v        *float64
		supp     bool
		want     string
	}{
		{"long_term", "count", 0, nil, v(41), false, "41 patients"},
		{"registered_adults", "count", 0, nil, v(12345), false, "12,345 patients"},
		{"ome_total_mg", "sum", 0, nil, v(101683.5985), false, "101,683.6 mg OME"},
		{"ome_per_1000", "ratio", 1000, omeSpec, v(12400), false, "12,400 mg OME per 1,000 adults"},
		{"ome_per_1000", "ratio", 1000, nil, v(12400.26), false, "12,400.3 mg OME per 1,000 adults"},
		{"long_term_reviewed", "ratio", 0, nil, v(0.7636), false, "76.4%"},
		{"long_term_reviewed", "ratio", 0, nil, nil, true, "suppressed"},
		{"long_term_reviewed", "ratio", 0, nil, nil, false, "—"},
		{"ome_unknown_issues", "count", 0, nil, v(2), false, "2 issues"},
	} {
		u := UnitOf(c.id, c.kind, c.per, c.spec)
		if got := FormatFigure(c.v, c.supp, u); got != c.want {
			t.Errorf("%s %v: %q, want %q", c.id, c.v, got, c.want)
		}
	}
	if got, want := FormatPart(v(60000), "mg OME"), "60,000 mg OME"; got != want {
		t.Errorf("FormatPart = %q, want %q", got, want)
	}
}

// Figures come in the pack's order with its titles, not by id.
func TestFiguresInPackOrder(t *testing.T) {
	spec := &results.PackSpec{Measures: []results.MeasureSpec{
		{ID: "long_term", Title: "Long-term opioid users"}, {ID: "high_dose", Title: "High-dose users"}, {ID: "ome_per_1000", Title: "OME per 1,000"},
	}}
	rows := []collector.MeasureRow{{MeasureID: "high_dose"}, {MeasureID: "extra"}, {MeasureID: "long_term"}, {MeasureID: "ome_per_1000"}}
	got := figures(spec, rows)
	var ids, titles []string
	for _, f := range got {
		ids, titles = append(ids, f.MeasureID), append(titles, f.Title)
	}
	if want := []string{"long_term", "high_dose", "ome_per_1000", "extra"}; !equal(ids, want) {
		t.Errorf("order %v, want %v", ids, want)
	}
	if want := []string{"Long-term opioid users", "High-dose users", "OME per 1,000", "extra"}; !equal(titles, want) {
		t.Errorf("titles %v, want %v", titles, want)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
