package main

import (
	"strings"
	"testing"
)

// TestSearchSQLSeries: steward search sql prints the series query of a
// search with a series after its measures query, in one wide query (a
// column per month end, a row per patient) on the canonical layout, and on
// tpp with the patients read once per month end.
func TestSearchSQLSeries(t *testing.T) {
	code, out, errOut := steward(t, "search", "sql", "--dialect", "sqlite", "--as-of", "2025-03-31", "../../searches/examples/high-dose-series.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"-- series of 12 month ends, in one query", "AS reg_as_of_p0", "AS reg_as_of_p11", "AS m0_high_dose_monthly__value_p11"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "month_ends") {
		t.Errorf("the wide query joins month_ends:\n%s", out)
	}
	// SystmOne's patients' SQL reads the address current at the as-of
	// date: one query still, with the patients read once per month end.
	code, out, errOut = steward(t, "search", "sql", "--dialect", "sqlite", "--profile", "tpp", "--profile-param", "organisation_id=1", "--as-of", "2025-03-31", "../../searches/examples/high-dose-series.yaml")
	if code != 0 {
		t.Fatalf("tpp: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"-- series of 12 month ends, in one query", "px_p0 AS", "px_p11 AS", "LEFT JOIN px_p11 AS x_p11 ON x_p11.patient_id = r.patient_id"} {
		if !strings.Contains(out, want) {
			t.Errorf("tpp output lacks %q", want)
		}
	}
}
