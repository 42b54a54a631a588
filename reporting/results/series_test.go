package results

import (
	"strings"
	"testing"
)

// TestDecodeSeries: a measure's series is accepted when its points are
// ascending month ends ending at as_of with the measure's figures, and each
// rule is enforced at the point's path.
func TestDecodeSeries(t *testing.T) {
	const count = `"value":41}`
	okCount := `"value":41,"series":[{"as_of":"2025-01-31","value":39},{"as_of":"2025-02-28","value":40},{"as_of":"2025-03-31","value":41}]}`
	okRatio := `"value":0.7317,"series":[{"as_of":"2025-02-28","numerator":0,"denominator":0,"value":null},{"as_of":"2025-03-31","numerator":30,"denominator":41,"value":0.7317}]}`
	for _, doc := range []string{
		strings.Replace(good, count, okCount, 1),
		strings.Replace(good, `"value":0.7317}`, okRatio, 1),
	} {
		d, err := Decode(strings.NewReader(doc))
		if err != nil {
			t.Fatalf("valid series refused: %v", err)
		}
		if len(d.Measures[0].Series)+len(d.Measures[1].Series) == 0 {
			t.Fatal("series not decoded")
		}
	}
	cases := []struct{ name, to, path, msg string }{
		{"not a month end", strings.Replace(okCount, "2025-01-31", "2025-01-30", 1), "$.measures[0].series[0].as_of", "last day of a month"},
		{"out of order", strings.Replace(okCount, "2025-01-31", "2025-02-28", 1), "$.measures[0].series[1].as_of", "oldest first"},
		{"fractional count", strings.Replace(okCount, `"value":39`, `"value":39.5`, 1), "$.measures[0].series[0].value", "whole number"},
		{"not ending at as_of", strings.Replace(okCount, `{"as_of":"2025-03-31","value":41}`, `{"as_of":"2025-02-28","value":41}`, 1), "$.measures[0].series[2].as_of", "oldest first"},
		{"last point differs", strings.Replace(okCount, `{"as_of":"2025-03-31","value":41}`, `{"as_of":"2025-03-31","value":42}`, 1), "$.measures[0].series[2]", "measure's own figures"},
		{"empty", `"value":41,"series":[]}`, "$.measures[0].series", "empty series"},
		{"at baseline", `"value":41,"at":"baseline","series":[{"as_of":"2025-03-31","value":41}]}`, "$.measures[0].series", "at baseline"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(good, count, c.to, 1)
			_, err := Decode(strings.NewReader(doc))
			if p := problemAt(t, err, c.path); p.Kind != ErrInvalid || !strings.Contains(p.Msg, c.msg) {
				t.Fatalf("problem %+v, want %q", p, c.msg)
			}
		})
	}
	ratio := strings.Replace(good, `"value":0.7317}`, strings.Replace(okRatio, `"numerator":0,"denominator":0,"value":null`, `"numerator":1,"denominator":2,"value":0.9`, 1), 1)
	_, err := Decode(strings.NewReader(ratio))
	if p := problemAt(t, err, "$.measures[1].series[0].value"); !strings.Contains(p.Msg, "numerator / denominator") {
		t.Fatalf("a point's ratio is not checked: %+v", p)
	}
}

// TestCheckPackSeries: a measure has a series exactly when its pack says so,
// of the pack's length, and a patient-counting ratio's points obey the
// same rules as its headline.
func TestCheckPackSeries(t *testing.T) {
	ratio := `"numerator":30,"denominator":41,"per":1,"value":0.7317}`
	withSeries := `"numerator":30,"denominator":41,"per":1,"value":0.7317,"series":[{"as_of":"2025-02-28","numerator":29,"denominator":40,"value":0.725},{"as_of":"2025-03-31","numerator":30,"denominator":41,"value":0.7317}]}`
	check := func(doc string, sp *PackSpec) error {
		t.Helper()
		d, err := Decode(strings.NewReader(doc))
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		return d.CheckPack(sp)
	}
	doc := strings.Replace(packDoc, ratio, withSeries, 1)
	if doc == packDoc {
		t.Fatal("the case changes nothing")
	}
	// The pack has no series for long_term_reviewed.
	err := check(doc, spec)
	if p := problemAt(t, err, "$.measures[1].series"); p.Kind != ErrPackMismatch || !strings.Contains(p.Msg, "no series") {
		t.Fatalf("problem %+v", p)
	}
	two := *spec
	two.Measures = append([]MeasureSpec(nil), spec.Measures...)
	for i := range two.Measures {
		if two.Measures[i].ID == "long_term_reviewed" {
			two.Measures[i].Series = 2
		}
	}
	if err := check(doc, &two); err != nil {
		t.Fatalf("a series the pack has: %v", err)
	}
	err = check(packDoc, &two)
	if p := problemAt(t, err, "$.measures[1].series"); p.Kind != ErrPackMismatch || !strings.Contains(p.Msg, "series of 2 month ends") {
		t.Fatalf("a missing series: problem %+v", p)
	}
	over := strings.Replace(doc, `"numerator":29,"denominator":40,"value":0.725`, `"numerator":41,"denominator":40,"value":1.025`, 1)
	err = check(over, &two)
	if p := problemAt(t, err, "$.measures[1].series[0].numerator"); p.Kind != ErrInvalid {
		t.Fatalf("a point's numerator above its denominator: problem %+v", p)
	}
}
