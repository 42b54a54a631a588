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

// problemAt returns the problem of err at path, or fails.
func problemAt(t *testing.T, err error, path string) Problem {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want an *Error", err)
	}
	for _, p := range e.Problems {
		if p.Path == path {
			return p
		}
	}
	t.Fatalf("no problem at %s in %v", path, err)
	return Problem{}
}

func TestDecodeRefusesDuplicateKeys(t *testing.T) {
	// The attack of the issue: a patient-level field in a first
	// "parameters" that encoding/json would drop in favour of the second.
	hidden := strings.Replace(good, `"as_of"`, `"parameters":{"nhs_number":"9434765919"},"parameters":{},"as_of"`, 1)
	_, err := Decode(strings.NewReader(hidden))
	if !errors.Is(err, ErrPatientLevel) || !strings.Contains(err.Error(), "$.parameters.nhs_number") {
		t.Fatalf("hidden under a duplicate key: %v", err)
	}
	if p := problemAt(t, err, "$.parameters"); p.Kind != ErrInvalid || !strings.Contains(p.Msg, `duplicate key "parameters"`) {
		t.Fatalf("duplicate problem = %+v", p)
	}
	for name, c := range map[string]struct{ doc, path, msg string }{
		"top level":     {strings.Replace(good, `"as_of"`, `"practice":"Y09999","as_of"`, 1), "$.practice", "duplicate key"},
		"in a measure":  {strings.Replace(good, `"value":41`, `"value":41,"value":4`, 1), "$.measures[0].value", "duplicate key"},
		"but for case":  {strings.Replace(good, `"value":41`, `"value":41,"VALUE":4`, 1), "$.measures[0].VALUE", "but for case"},
		"invalid utf-8": {strings.Replace(good, `"dev"`, "\"d\xffv\"", 1), "$", "not valid UTF-8"},
		"wrong type":    {strings.Replace(good, `"value":41`, `"value":"41"`, 1), "$.measures[0].value", "a JSON string where a number belongs"},
		"deep": {strings.Replace(good, `"value":41`, `"value":41,"strata":[{"dimension":"sex","cells":[{"stratum":"F","value":1,"stratum":"M"}]}]`, 1),
			"$.measures[0].strata[0].cells[0].stratum", "duplicate key"},
	} {
		_, err := Decode(strings.NewReader(c.doc))
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if p := problemAt(t, err, c.path); !strings.Contains(p.Msg, c.msg) {
			t.Errorf("%s: %+v, want %q", name, p, c.msg)
		}
	}
}

func TestDecodeScreensFreeText(t *testing.T) {
	cases := []struct {
		name, from, to, path string
		want                 error
	}{
		{"NHS number in a title", `"id":"long_term",`, `"id":"long_term","title":"Mr Smith 943 476 5919",`, "$.measures[0].title", ErrPatientText},
		{"NHS number in a stratum", `"value":41`, `"value":41,"strata":[{"dimension":"sex","cells":[{"stratum":"9434765919","value":10}]}]`, "$.measures[0].strata[0].cells[0].stratum", ErrPatientText},
		{"date of birth in a stratum", `"value":41`, `"value":41,"strata":[{"dimension":"sex","cells":[{"stratum":"born 12/03/1950","value":10}]}]`, "$.measures[0].strata[0].cells[0].stratum", ErrPatientText},
		{"NHS number in a parameter", `"as_of"`, `"parameters":{"high_dose_mg_per_day":"943-476-5919"},"as_of"`, "$.parameters.high_dose_mg_per_day", ErrPatientText},
		{"date in a producer", `"version":"dev"`, `"version":"dev","profile":"12-Mar-1950"`, "$.producer.profile", ErrPatientText},
		{"spaces in a producer", `"version":"dev"`, `"version":"dev","profile":"Mr Smith"`, "$.producer.profile", ErrInvalid},
		{"NHS number in a version", `"version":"dev"`, `"version":"v9434765919"`, "$.producer.version", ErrPatientText},
		{"date in a reference name", `"as_of"`, `"references":[{"kind":"codelist","name":"list of 1950-03-12","version":"2020-04-15"}],"as_of"`, "$.references[0].name", ErrPatientText},
		{"run name", `"as_of"`, `"runs":[{"search":"Smith 1950","duration_ms":1,"rows":0,"status":"ok"}],"as_of"`, "$.runs[0].search", ErrInvalid},
		{"overlong title", `"id":"long_term",`, `"id":"long_term","title":"` + strings.Repeat("x", MaxTitle+1) + `",`, "$.measures[0].title", ErrInvalid},
		{"overlong stratum", `"value":41`, `"value":41,"strata":[{"dimension":"sex","cells":[{"stratum":"` + strings.Repeat("x", MaxName+1) + `","value":10}]}]`, "$.measures[0].strata[0].cells[0].stratum", ErrInvalid},
		{"NUL in a title", `"id":"long_term",`, `"id":"long_term","title":"a\u0000b",`, "$.measures[0].title", ErrInvalid},
		{"bidi override in a title", `"id":"long_term",`, `"id":"long_term","title":"a\u202eb",`, "$.measures[0].title", ErrInvalid},
		{"bad parameter name", `"as_of"`, `"parameters":{"Bad Name":"1"},"as_of"`, `$.parameters["Bad Name"]`, ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(good, c.from, c.to, 1)
			if doc == good {
				t.Fatal("the case changes nothing")
			}
			_, err := Decode(strings.NewReader(doc))
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			p := problemAt(t, err, c.path)
			if p.Kind != c.want {
				t.Fatalf("problem %+v, want kind %v", p, c.want)
			}
			if strings.Contains(err.Error(), "9434765919") || strings.Contains(err.Error(), "5919") || strings.Contains(err.Error(), "1950") {
				t.Fatalf("the message repeats the identifier: %v", err)
			}
		})
	}
	// Typed date fields are dates by design and are not screened.
	ok := strings.Replace(good, `"as_of"`, `"generated_at":"2025-04-01T02:00:00Z","references":[{"kind":"codelist","name":"cancer:lung.csv","version":"2020-04-15"}],"as_of"`, 1)
	if _, err := Decode(strings.NewReader(ok)); err != nil {
		t.Fatalf("dates in typed fields: %v", err)
	}
}

func TestDecodeChecksFigures(t *testing.T) {
	cases := []struct{ name, from, to, path, msg string }{
		{"negative count", `"value":41`, `"value":-1`, "$.measures[0].value", "whole number"},
		{"ten-digit count", `"value":41`, `"value":9434765919`, "$.measures[0].value", "whole number from 0 to 999999999"},
		{"value not the ratio", `"value":0.7317`, `"value":0.9`, "$.measures[1].value", "not numerator / denominator x per"},
		{"value off by more than rounding", `"value":0.7317`, `"value":0.7319`, "$.measures[1].value", "not numerator / denominator x per"},
		{"value despite a zero denominator", `"numerator":0,"denominator":0,"value":null`, `"numerator":0,"denominator":0,"value":0`, "$.measures[2].value", "must be null"},
		{"no value", `"value":0.7317`, `"value":null`, "$.measures[1].value", "value is required"},
		{"suppressed with a value", `"value":41`, `"value":41,"suppressed":true`, "$.measures[0].value", "carries no value"},
		{"per on a count", `"value":41`, `"value":41,"per":1000`, "$.measures[0].per", "ratios only"},
		{"negative per", `"value":0.7317`, `"value":0.7317,"per":-1`, "$.measures[1].per", "positive"},
		// A ratio's strata say which part they count (a stratification without part is refused).
		{"strata on a ratio without part", `"value":0.7317`, `"value":0.7317,"strata":[{"dimension":"sex","cells":[]}]`, "$.measures[1].strata[0].part", "part must be numerator or denominator"},
		{"part on a count", `"value":41`, `"value":41,"strata":[{"dimension":"sex","part":"numerator","cells":[]}]`, "$.measures[0].strata[0].part", "part applies to a ratio"},
		{"cell without value", `"value":41`, `"value":41,"strata":[{"dimension":"sex","cells":[{"stratum":"F","value":null}]}]`, "$.measures[0].strata[0].cells[0].value", "required"},
		{"fractional cell", `"value":41`, `"value":41,"strata":[{"dimension":"sex","cells":[{"stratum":"F","value":1.5}]}]`, "$.measures[0].strata[0].cells[0].value", "whole number"},
		{"stratum twice", `"value":41`, `"value":41,"strata":[{"dimension":"sex","cells":[{"stratum":"F","value":1},{"stratum":"F","value":2}]}]`, "$.measures[0].strata[0].cells[1].stratum", "twice"},
		{"bad run status", `"as_of"`, `"runs":[{"search":"medsip","duration_ms":1,"rows":0,"status":"fine"}],"as_of"`, "$.runs[0].status", "not one of"},
		{"bad generated_at", `"as_of"`, `"generated_at":"yesterday","as_of"`, "$.generated_at", "RFC 3339"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(good, c.from, c.to, 1)
			if doc == good {
				t.Fatal("the case changes nothing")
			}
			_, err := Decode(strings.NewReader(doc))
			if p := problemAt(t, err, c.path); p.Kind != ErrInvalid || !strings.Contains(p.Msg, c.msg) {
				t.Fatalf("problem %+v, want %q", p, c.msg)
			}
		})
	}
	// Per scales the value: ome_per_1000 is numerator / denominator x 1000,
	// and four-decimal rounding of the numerator is tolerated.
	per := strings.Replace(good, `{"id":"empty"`, `{"id":"ome_per_1000","kind":"ratio","numerator":126684.12345,"denominator":36,"per":1000,"value":3519003.4292},{"id":"empty"`, 1)
	if _, err := Decode(strings.NewReader(per)); err != nil {
		t.Fatalf("per 1000: %v", err)
	}
	scaled := strings.Replace(per, `"denominator":36,`, `"denominator":0.036,`, 1)
	if _, err := Decode(strings.NewReader(scaled)); err == nil {
		t.Fatal("a denominator divided by per passes: value must be numerator / denominator x per")
	}
	// A suppressed ratio may lack its figures.
	sup := strings.Replace(good, `"numerator":30,"denominator":41,"value":0.7317`, `"numerator":null,"denominator":40,"value":null,"suppressed":true`, 1)
	if _, err := Decode(strings.NewReader(sup)); err != nil {
		t.Fatalf("suppressed ratio: %v", err)
	}
}

func TestErrorKindAndField(t *testing.T) {
	doc := strings.Replace(good, `"id":"long_term",`, `"id":"long_term","title":"9434765919",`, 1)
	doc = strings.Replace(doc, "2025-03-31", "2025-03-30", 1)
	_, err := Decode(strings.NewReader(doc))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatal(err)
	}
	if e.Kind() != ErrPatientText || e.Field() != "$.measures[0].title" || !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrPatientText) {
		t.Fatalf("kind %v field %s: %v", e.Kind(), e.Field(), err)
	}
	if !strings.HasPrefix(err.Error(), ErrPatientText.Error()+": ") || !strings.Contains(err.Error(), "$.as_of") {
		t.Fatalf("message %q", err)
	}
}

// spec is a pack of three measures in the shape of MedSIP's.
var spec = &PackSpec{
	ID: "medsip", Version: "2026.1.0",
	Measures: []MeasureSpec{
		{ID: "long_term", Kind: KindCount, Title: "Long-term users", At: "as_of",
			Strata: []StrataSpec{{Dimension: "sex", Labels: []string{"F", "M", "unknown"}}}},
		{ID: "long_term_reviewed", Kind: KindRatio, Title: "Reviewed", At: "as_of", Per: 1, NumeratorPatients: true, DenominatorPatients: true},
		{ID: "ome_per_1000", Kind: KindRatio, Title: "OME per 1,000", At: "as_of", Per: 1000, DenominatorPatients: true},
		{ID: "ome_total_mg", Kind: KindSum, Title: "OME", At: "as_of"},
	},
	Searches:   []string{"medsip"},
	Parameters: []string{"high_dose_mg_per_day"},
	References: []Reference{{Kind: "reference_table", Name: "ome", Version: "uk-2020.1", SHA256: strings.Repeat("a", 64)}},
}

const packDoc = `{"schema":"steward.results/v1","practice":"Y01234","pack":{"id":"medsip","version":"2026.1.0"},
"as_of":"2025-03-31","producer":{"name":"steward","version":"dev"},
"parameters":{"high_dose_mg_per_day":"120"},
"references":[{"kind":"reference_table","name":"ome","version":"uk-2020.1","sha256":"` + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" + `"}],
"runs":[{"search":"medsip","duration_ms":12,"rows":100,"status":"ok"}],
"measures":[{"id":"long_term","kind":"count","title":"Long-term users","at":"as_of","value":41,
  "strata":[{"dimension":"sex","cells":[{"stratum":"F","value":20},{"stratum":"M","value":20},{"stratum":"unknown","value":null,"suppressed":true}]}]},
{"id":"long_term_reviewed","kind":"ratio","numerator":30,"denominator":41,"per":1,"value":0.7317},
{"id":"ome_per_1000","kind":"ratio","numerator":123456.5,"denominator":2500,"per":1000,"value":49382.6},
{"id":"ome_total_mg","kind":"sum","value":123456}]}`

func TestCheckPack(t *testing.T) {
	d, err := Decode(strings.NewReader(packDoc))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CheckPack(spec); err != nil {
		t.Fatalf("CheckPack: %v", err)
	}
	cases := []struct {
		name, from, to, path string
		want                 error
	}{
		{"unknown measure", `"id":"ome_per_1000"`, `"id":"ome_per_100"`, "$.measures[2].id", ErrPackMismatch},
		{"missing measure", `,
{"id":"long_term_reviewed","kind":"ratio","numerator":30,"denominator":41,"per":1,"value":0.7317}`, ``, "$.measures", ErrPackMismatch},
		{"agent's title", `"title":"Long-term users"`, `"title":"Click here"`, "$.measures[0].title", ErrPackMismatch},
		{"other kind", `"kind":"sum","value":123456`, `"kind":"count","value":123456`, "$.measures[3].kind", ErrPackMismatch},
		{"other per", `"per":1000,"value":49382.6`, `"per":1,"value":49.3826`, "$.measures[2].per", ErrPackMismatch},
		{"other date", `"at":"as_of"`, `"at":"baseline"`, "$.measures[0].at", ErrPackMismatch},
		{"publishable", `"at":"as_of",`, `"at":"as_of","publishable":true,`, "$.measures[0].publishable", ErrPackMismatch},
		{"other dimension", `"dimension":"sex"`, `"dimension":"ethnicity"`, "$.measures[0].strata[0].dimension", ErrPackMismatch},
		{"other stratum", `{"stratum":"M","value":20}`, `{"stratum":"X","value":20}`, "$.measures[0].strata[0].cells[1].stratum", ErrPackMismatch},
		{"numerator above denominator", `"numerator":30,"denominator":41,"per":1,"value":0.7317`, `"numerator":42,"denominator":41,"per":1,"value":1.0244`, "$.measures[1].numerator", ErrInvalid},
		{"fractional patients", `"numerator":30,"denominator":41,"per":1,"value":0.7317`, `"numerator":30.5,"denominator":41,"per":1,"value":0.7439`, "$.measures[1].numerator", ErrInvalid},
		{"fractional patient denominator", `"denominator":2500,"per":1000,"value":49382.6`, `"denominator":2.5,"per":1000,"value":49382600`, "$.measures[2].denominator", ErrInvalid},
		{"unknown search", `"search":"medsip"`, `"search":"other"`, "$.runs[0].search", ErrPackMismatch},
		{"unknown parameter", `"high_dose_mg_per_day":"120"`, `"low_dose":"120"`, "$.parameters.low_dose", ErrPackMismatch},
		{"parameter not a number", `"high_dose_mg_per_day":"120"`, `"high_dose_mg_per_day":"lots"`, "$.parameters.high_dose_mg_per_day", ErrInvalid},
		{"unknown reference", `"name":"ome"`, `"name":"other"`, "$.references[0].name", ErrPackMismatch},
		{"other reference version", `"version":"uk-2020.1"`, `"version":"uk-2021.1"`, "$.references[0].version", ErrPackMismatch},
		{"other reference content", `"sha256":"aaaa`, `"sha256":"bbbb`, "$.references[0].sha256", ErrPackMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(packDoc, c.from, c.to, 1)
			if doc == packDoc {
				t.Fatal("the case changes nothing")
			}
			d, err := Decode(strings.NewReader(doc))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			err = d.CheckPack(spec)
			if p := problemAt(t, err, c.path); p.Kind != c.want {
				t.Fatalf("problem %+v, want kind %v", p, c.want)
			}
		})
	}
	// A ratio whose numerator is a sum (mg of OME) may exceed its
	// denominator; one without a title takes the pack's.
	big := strings.Replace(packDoc, `"title":"Long-term users",`, ``, 1)
	d, err = Decode(strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CheckPack(spec); err != nil {
		t.Fatalf("untitled measure, sum numerator above its denominator: %v", err)
	}
	other := *spec
	other.Version = "2026.2.0"
	if err := d.CheckPack(&other); !errors.Is(err, ErrPackMismatch) {
		t.Fatalf("checked against another version: %v", err)
	}
}
