package results

import (
	"errors"
	"strings"
	"testing"
)

const good = `{"schema":"steward.results/v1","practice":"Y01234","pack":{"id":"medsip","version":"2026.1.0"},
"as_of":"2025-03-31","baseline":"2024-03-31","producer":{"name":"steward","version":"dev"},
"measures":[{"id":"long_term","kind":"count","value":41},
{"id":"long_term_reviewed","kind":"ratio","numerator":30,"denominator":41,"value":0.7317},
{"id":"empty","kind":"ratio","numerator":0,"denominator":0,"value":null}]}`

func TestDecodeGood(t *testing.T) {
	d, err := Decode(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := *d.Find("long_term_reviewed").Value; got != 0.7317 {
		t.Errorf("value = %v", got)
	}
}

func TestDecodeRefuses(t *testing.T) {
	cases := []struct {
		name, doc string
		want      error
		msg       string
	}{
		{"patient id", strings.Replace(good, `"as_of"`, `"patient_id":123,"as_of"`, 1), ErrPatientLevel, `"patient_id"`},
		{"nested date of birth", strings.Replace(good, `"value":41`, `"value":41,"strata":[{"dimension":"sex","cells":[{"stratum":"F","value":1,"date_of_birth":"1950-01-01"}]}]`, 1), ErrPatientLevel, `"date_of_birth"`},
		{"unknown field", strings.Replace(good, `"as_of"`, `"colour":"red","as_of"`, 1), ErrInvalid, `unknown field "colour"`},
		{"trailing data", good + `{}`, ErrInvalid, "trailing data"},
		{"wrong schema", strings.Replace(good, "results/v1", "results/v9", 1), ErrInvalid, `schema is "steward.results/v9"`},
		{"not a month end", strings.Replace(good, "2025-03-31", "2025-03-30", 1), ErrInvalid, "not the last day of a month"},
		{"bad kind", strings.Replace(good, `"kind":"count"`, `"kind":"mean"`, 1), ErrInvalid, `kind "mean"`},
		{"fractional count", strings.Replace(good, `"value":41`, `"value":41.5`, 1), ErrInvalid, "whole number"},
		{"bad ods", strings.Replace(good, "Y01234", "y1", 1), ErrInvalid, "not an ODS code"},
		{"oversized", strings.Replace(good, `"as_of"`, `"generated_at":"`+strings.Repeat("x", MaxBytes)+`","as_of"`, 1), ErrInvalid, "larger than"},
		{"duplicate id", strings.Replace(good, `"id":"empty"`, `"id":"long_term"`, 1), ErrInvalid, "duplicate measure id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(c.doc))
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, c.want, c.msg)
			}
		})
	}
}
