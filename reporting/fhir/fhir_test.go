package fhir

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/nhs-steward/steward/reporting/disclosure"
	"github.com/nhs-steward/steward/reporting/results"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

var (
	schemaOnce sync.Once
	schema     *jsonschema.Schema // the whole schema: any FHIR resource
	mrSchema   *jsonschema.Schema // its MeasureReport definition, for readable errors
	schemaErr  error
)

// fhirSchema compiles the official FHIR R4 JSON schema (testdata/SOURCE.md)
// with stubs for the two definitions it references but does not hold. It
// returns the root schema and its MeasureReport definition.
func fhirSchema(t *testing.T) (*jsonschema.Schema, *jsonschema.Schema) {
	t.Helper()
	schemaOnce.Do(func() {
		f, err := os.Open(filepath.Join("testdata", "fhir.schema.json.gz"))
		if err != nil {
			schemaErr = err
			return
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			schemaErr = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(zr)
		if err != nil {
			schemaErr = err
			return
		}
		defs := doc.(map[string]any)["definitions"].(map[string]any)
		for name, stub := range map[string]any{
			// FHIR R5's integer64 travels as a JSON string.
			"integer64": map[string]any{"type": "string", "pattern": `^-?([0]|([1-9][0-9]*))$`},
			// Any resource: the concrete ones are checked through ResourceList.
			"Resource": map[string]any{"type": "object"},
		} {
			if _, ok := defs[name]; ok {
				schemaErr = errors.New("schema now defines " + name + ": drop the stub")
				return
			}
			defs[name] = stub
		}
		c := jsonschema.NewCompiler()
		const url = "https://steward.test/fhir.schema.json"
		if err := c.AddResource(url, doc); err != nil {
			schemaErr = err
			return
		}
		if schema, schemaErr = c.Compile(url); schemaErr != nil {
			return
		}
		mrSchema, schemaErr = c.Compile(url + "#/definitions/MeasureReport")
	})
	if schemaErr != nil {
		t.Fatalf("FHIR schema: %v", schemaErr)
	}
	return schema, mrSchema
}

// validate checks body against the whole FHIR schema and against its
// MeasureReport definition; both must agree. The second gives the readable
// error.
func validate(t *testing.T, body []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	root, mr := fhirSchema(t)
	rootErr, mrErr := root.Validate(inst), mr.Validate(inst)
	if (rootErr == nil) != (mrErr == nil) {
		t.Fatalf("root schema says %v, MeasureReport definition says %v", rootErr, mrErr)
	}
	return mrErr
}

func sample(t *testing.T) *results.Document {
	t.Helper()
	d := &results.Document{
		Schema:      results.Schema,
		Practice:    "Y01234",
		Pack:        results.PackRef{ID: "medsip", Version: "2026.1.0"},
		AsOf:        "2025-03-31",
		Baseline:    "2024-03-31",
		GeneratedAt: "2025-04-02T09:30:00Z",
		Producer:    results.Producer{Name: "steward", Version: "test"},
		Measures: []results.Measure{
			{ID: "long_term", Kind: results.KindCount, Title: "Long-term opioid use", Value: results.F(41),
				Strata: []results.Strata{
					{Dimension: "sex", Cells: []results.Cell{
						{Stratum: "female", Value: results.F(24)}, {Stratum: "male", Value: results.F(17)}}},
					{Dimension: "age_band", Cells: []results.Cell{
						{Stratum: "18-39", Value: results.F(3)}, {Stratum: "40-64", Value: results.F(15)},
						{Stratum: "65-79", Value: results.F(13)}, {Stratum: "80+", Value: results.F(10)}}},
					{Dimension: "imd_quintile", Cells: []results.Cell{
						{Stratum: "1", Value: results.F(12)}, {Stratum: "2", Value: results.F(9)},
						{Stratum: "3", Value: results.F(8)}, {Stratum: "4", Value: results.F(6)},
						{Stratum: "5", Value: results.F(4)}, {Stratum: "unknown", Value: results.F(2)}}},
				}},
			{ID: "long_term_reviewed", Kind: results.KindRatio, Numerator: results.F(30), Denominator: results.F(41), Value: results.F(0.7317)},
			{ID: "high_dose_reviewed", Kind: results.KindRatio, Numerator: results.F(0), Denominator: results.F(0)},
			{ID: "ome_total_mg", Kind: results.KindSum, Value: results.F(123456.5)},
			{ID: "ome_per_1000", Kind: results.KindRatio, Numerator: results.F(123456.5), Denominator: results.F(2346), Per: 1000, Value: results.F(52624.25)},
			{ID: "baseline_lost", Kind: results.KindCount, Value: results.F(3), Publishable: true},
		},
	}
	if _, err := disclosure.Apply(d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRenderValidatesAgainstFHIRSchema(t *testing.T) {
	r, err := Render(sample(t), Options{ID: "medsip-Y01234-2025-03", Months: 3})
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	body = append(body, '\n')
	if err := validate(t, body); err != nil {
		t.Fatalf("report is not valid FHIR R4: %v", err)
	}
	golden := filepath.Join("testdata", "measurereport.golden.json")
	if *update {
		if err := os.WriteFile(golden, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(body, want) {
		t.Fatalf("report differs from %s (go test -update rewrites it):\n%s", golden, body)
	}
	if err := validate(t, want); err != nil {
		t.Fatalf("golden file is not valid FHIR R4: %v", err)
	}
}

func TestRenderContent(t *testing.T) {
	r, err := Render(sample(t), Options{Base: "https://icb.example.org/fhir/"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Measure, "https://icb.example.org/fhir/Measure/medsip|2026.1.0"; got != want {
		t.Errorf("measure = %q, want %q", got, want)
	}
	if got, want := r.Period, (Period{Start: "2025-03-01", End: "2025-03-31"}); got != want {
		t.Errorf("period = %+v, want %+v", got, want)
	}
	if id := r.Reporter.Identifier; id.System != ODSSystem || id.Value != "Y01234" || r.Reporter.Type != "Organization" {
		t.Errorf("reporter = %+v", r.Reporter)
	}
	if r.Status != "complete" || r.Type != "summary" || r.Date != "2025-04-02T09:30:00Z" {
		t.Errorf("status %q type %q date %q", r.Status, r.Type, r.Date)
	}
	byID := map[string]Group{}
	for _, g := range r.Group {
		byID[g.Code.Coding[0].Code] = g
	}
	lt := byID["long_term"]
	if c := lt.Population[0]; c.Code.Coding[0].Code != InitialPopulation || *c.Count != 41 || lt.MeasureScore != nil {
		t.Errorf("long_term group %+v", lt)
	}
	// age_band: 3 is small, 10 (the smallest non-zero) complementary.
	age := lt.Stratifier[1]
	if age.Code[0].Coding[0].Code != "age_band" || len(age.Stratum) != 4 {
		t.Fatalf("age_band stratifier %+v", age)
	}
	for i, want := range []int64{-1, 15, 15, -1} {
		p := age.Stratum[i].Population[0]
		if want < 0 {
			if p.Count != nil || len(p.Extension) != 1 || p.Extension[0].ValueCode != "masked" {
				t.Errorf("stratum %d: %+v, want masked", i, p)
			}
		} else if p.Count == nil || *p.Count != want {
			t.Errorf("stratum %d: %+v, want %d", i, p, want)
		}
	}
	rv := byID["long_term_reviewed"]
	if len(rv.Population) != 2 || *rv.Population[0].Count != 30 || *rv.Population[1].Count != 41 || rv.MeasureScore.Value != 0.7317 {
		t.Errorf("ratio group %+v", rv)
	}
	if hd := byID["high_dose_reviewed"]; hd.MeasureScore != nil || len(hd.Population) != 2 {
		t.Errorf("zero-denominator ratio %+v", hd)
	}
	if om := byID["ome_per_1000"]; len(om.Population) != 1 || om.Population[0].Code.Coding[0].Code != Denominator || om.MeasureScore.Value != 52624.25 {
		t.Errorf("ome_per_1000 %+v", om)
	}
	if bl := byID["baseline_lost"]; bl.Population[0].Count != nil || bl.Population[0].Extension[0].URL != DataAbsentReason {
		t.Errorf("suppressed publishable count %+v", bl)
	}
	if len(r.Extension) != 1 || r.Extension[0].ValueString != disclosure.Method {
		t.Errorf("extensions %+v", r.Extension)
	}
}

// TestSchemaRejectsBrokenReports shows the validation has teeth: each
// mutation of a valid report must fail.
func TestSchemaRejectsBrokenReports(t *testing.T) {
	r, err := Render(sample(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	good, _ := json.Marshal(r)
	for _, tc := range []struct {
		name   string
		mutate func(m map[string]any)
		want   string // in the validation error
	}{
		{"unknown status", func(m map[string]any) { m["status"] = "done" }, "/status"},
		{"unknown type", func(m map[string]any) { m["type"] = "aggregate" }, "/type"},
		{"missing measure", func(m map[string]any) { delete(m, "measure") }, "missing property 'measure'"},
		{"missing period", func(m map[string]any) { delete(m, "period") }, "missing property 'period'"},
		{"unknown property", func(m map[string]any) { m["practice"] = "Y01234" }, "'practice' not allowed"},
		{"date not a dateTime", func(m map[string]any) { m["date"] = "2 April 2025" }, "/date"},
		{"wrong resourceType", func(m map[string]any) { m["resourceType"] = "MeasureReports" }, "/resourceType"},
		{"count is a string", func(m map[string]any) { firstPopulation(m)["count"] = "41" }, "/group/0/population/0/count"},
		{"stratifier code not a list", func(m map[string]any) {
			g := m["group"].([]any)[0].(map[string]any)
			g["stratifier"].([]any)[0].(map[string]any)["code"] = map[string]any{"text": "sex"}
		}, "/group/0/stratifier/0/code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(good, &m); err != nil {
				t.Fatal(err)
			}
			tc.mutate(m)
			body, _ := json.Marshal(m)
			err := validate(t, body)
			if err == nil {
				t.Fatalf("broken report accepted:\n%s", body)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error does not mention %q:\n%v", tc.want, err)
			}
		})
	}
}

func firstPopulation(m map[string]any) map[string]any {
	g := m["group"].([]any)[0].(map[string]any)
	return g["population"].([]any)[0].(map[string]any)
}

func TestRenderErrors(t *testing.T) {
	for name, mutate := range map[string]func(*results.Document){
		"bad as_of":        func(d *results.Document) { d.AsOf = "March 2025" },
		"bad generated_at": func(d *results.Document) { d.GeneratedAt = "yesterday" },
		"fractional count": func(d *results.Document) { d.Measures[0].Value = results.F(4.5) },
		"unknown kind":     func(d *results.Document) { d.Measures[0].Kind = "mean" },
		"no practice":      func(d *results.Document) { d.Practice = "" },
	} {
		t.Run(name, func(t *testing.T) {
			d := sample(t)
			mutate(d)
			if _, err := Render(d, Options{}); !errors.Is(err, ErrRender) {
				t.Fatalf("err = %v, want ErrRender", err)
			}
		})
	}
	if _, err := Render(sample(t), Options{Base: "https://x.example/a|b"}); err == nil || !strings.Contains(err.Error(), "base") {
		t.Fatalf("bad base: %v", err)
	}
}
