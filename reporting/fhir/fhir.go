// Package fhir renders a results document as a FHIR R4 MeasureReport, for
// ICB and regional systems that take FHIR. It holds plain structs for the few
// FHIR elements a summary MeasureReport needs; the tests validate the output
// against the official FHIR R4 JSON schema.
//
// The mapping:
//   - one MeasureReport per document: status "complete", type "summary";
//   - measure = the pack's canonical URL, "<base>/Measure/<pack id>|<version>";
//   - reporter = the practice, by ODS code;
//   - period = the calendar months ending as_of (Options.Months, default 1);
//   - date = the document's generated_at, when it has one;
//   - one group per measure, coded "<base>/CodeSystem/<pack id>" | measure id:
//     a count has an initial-population, a ratio a numerator and a
//     denominator (population codes from the HL7 measure-population code
//     system; a figure that is not a whole number, such as a sum of mg, has no
//     population), and a sum or a ratio has measureScore = value;
//   - one stratifier per stratification, coded
//     "<base>/CodeSystem/stratifier" | dimension; each stratum's value is
//     coded "<base>/CodeSystem/<dimension>" | stratum, with an
//     initial-population count;
//   - a suppressed figure (disclosure control) keeps its population element
//     but has no count: instead it carries the standard data-absent-reason
//     extension with the code "masked". The reason for suppression (small or
//     complementary) is deliberately not carried, since it would narrow the
//     value down; a suppressed measure has no measureScore.
//   - when disclosure control was applied, the report carries an extension
//     "<base>/StructureDefinition/disclosure-control" naming the method.
package fhir

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/nhs-steward/steward/reporting/results"
)

// Systems and URLs.
const (
	// DefaultBase is the canonical base for Steward's FHIR artefacts. It is
	// in the reserved .example domain: a deployment that publishes Measure
	// resources sets its own.
	DefaultBase = "https://steward.nhs.example"
	// ODSSystem is the NHS identifier system for ODS organisation codes.
	ODSSystem = "https://fhir.nhs.uk/Id/ods-organization-code"
	// PopulationSystem is HL7's measure-population code system.
	PopulationSystem = "http://terminology.hl7.org/CodeSystem/measure-population"
	// DataAbsentReason is the core extension saying why a value is missing.
	DataAbsentReason = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
	// DataAbsentSystem is the code system of its codes ("masked").
	DataAbsentSystem = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
)

// Population codes.
const (
	InitialPopulation = "initial-population"
	Numerator         = "numerator"
	Denominator       = "denominator"
)

// Options configure Render.
type Options struct {
	// Base is the canonical base URL (no trailing slash); "" means
	// DefaultBase.
	Base string
	// Months is how many calendar months ending as_of the period covers;
	// 0 means 1.
	Months int
	// ID, if set, becomes the resource id.
	ID string
}

// MeasureReport is the subset of the FHIR R4 MeasureReport resource Steward
// writes.
type MeasureReport struct {
	ResourceType string      `json:"resourceType"`
	ID           string      `json:"id,omitempty"`
	Extension    []Extension `json:"extension,omitempty"`
	Status       string      `json:"status"`
	Type         string      `json:"type"`
	Measure      string      `json:"measure"`
	Date         string      `json:"date,omitempty"`
	Reporter     *Reference  `json:"reporter,omitempty"`
	Period       Period      `json:"period"`
	Group        []Group     `json:"group,omitempty"`
}

// Group is MeasureReport.group: one measure.
type Group struct {
	Code         *CodeableConcept `json:"code,omitempty"`
	Population   []Population     `json:"population,omitempty"`
	MeasureScore *Quantity        `json:"measureScore,omitempty"`
	Stratifier   []Stratifier     `json:"stratifier,omitempty"`
}

// Population is MeasureReport.group.population and
// MeasureReport.group.stratifier.stratum.population.
type Population struct {
	Extension []Extension      `json:"extension,omitempty"`
	Code      *CodeableConcept `json:"code,omitempty"`
	Count     *int64           `json:"count,omitempty"`
}

// Stratifier is MeasureReport.group.stratifier: one stratification.
type Stratifier struct {
	Code    []CodeableConcept `json:"code,omitempty"`
	Stratum []Stratum         `json:"stratum,omitempty"`
}

// Stratum is MeasureReport.group.stratifier.stratum: one cell.
type Stratum struct {
	Value      *CodeableConcept `json:"value,omitempty"`
	Population []Population     `json:"population,omitempty"`
}

// CodeableConcept is the FHIR data type.
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Coding is the FHIR data type.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// Quantity is the FHIR data type (value only, as Steward uses it).
type Quantity struct {
	Value float64 `json:"value"`
}

// Period is the FHIR data type.
type Period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// Reference is the FHIR data type, by logical identifier.
type Reference struct {
	Type       string      `json:"type,omitempty"`
	Identifier *Identifier `json:"identifier,omitempty"`
}

// Identifier is the FHIR data type.
type Identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

// Extension is the FHIR data type, with the value types Steward uses.
type Extension struct {
	URL         string `json:"url"`
	ValueCode   string `json:"valueCode,omitempty"`
	ValueString string `json:"valueString,omitempty"`
}

// ErrRender wraps every failure of Render.
var ErrRender = errors.New("render FHIR MeasureReport")

// MeasureURL returns the canonical URL, with version, of a pack's Measure.
func MeasureURL(base string, pack results.PackRef) string {
	return strings.TrimRight(base, "/") + "/Measure/" + pack.ID + "|" + pack.Version
}

// Render builds the MeasureReport for doc.
func Render(doc *results.Document, opts Options) (*MeasureReport, error) {
	if doc == nil {
		return nil, fmt.Errorf("%w: nil document", ErrRender)
	}
	base := strings.TrimRight(opts.Base, "/")
	if base == "" {
		base = DefaultBase
	}
	if strings.ContainsAny(base, " |") {
		return nil, fmt.Errorf("%w: base %q must be a URL without spaces or '|'", ErrRender, base)
	}
	if doc.Pack.ID == "" || doc.Pack.Version == "" || doc.Practice == "" {
		return nil, fmt.Errorf("%w: pack id, pack version and practice are required", ErrRender)
	}
	months := opts.Months
	if months == 0 {
		months = 1
	}
	if months < 0 {
		return nil, fmt.Errorf("%w: months %d is negative", ErrRender, months)
	}
	asOf, err := time.Parse(time.DateOnly, doc.AsOf)
	if err != nil {
		return nil, fmt.Errorf("%w: as_of %q: %w", ErrRender, doc.AsOf, err)
	}
	start := time.Date(asOf.Year(), asOf.Month()-time.Month(months-1), 1, 0, 0, 0, 0, time.UTC)
	r := &MeasureReport{
		ResourceType: "MeasureReport",
		ID:           opts.ID,
		Status:       "complete",
		Type:         "summary",
		Measure:      MeasureURL(base, doc.Pack),
		Reporter: &Reference{
			Type:       "Organization",
			Identifier: &Identifier{System: ODSSystem, Value: doc.Practice},
		},
		Period: Period{Start: start.Format(time.DateOnly), End: doc.AsOf},
	}
	if doc.GeneratedAt != "" {
		t, err := time.Parse(time.RFC3339, doc.GeneratedAt)
		if err != nil {
			return nil, fmt.Errorf("%w: generated_at %q: %w", ErrRender, doc.GeneratedAt, err)
		}
		r.Date = t.UTC().Format(time.RFC3339)
	}
	if d := doc.Disclosure; d != nil && d.Applied {
		r.Extension = append(r.Extension, Extension{
			URL:         base + "/StructureDefinition/disclosure-control",
			ValueString: d.Method,
		})
	}
	for _, m := range doc.Measures {
		g, err := group(base, doc.Pack.ID, m)
		if err != nil {
			return nil, fmt.Errorf("%w: measure %q: %w", ErrRender, m.ID, err)
		}
		r.Group = append(r.Group, g)
	}
	return r, nil
}

func group(base, pack string, m results.Measure) (Group, error) {
	g := Group{Code: &CodeableConcept{
		Coding: []Coding{{System: base + "/CodeSystem/" + pack, Code: m.ID, Display: m.Title}},
		Text:   m.Title,
	}}
	switch m.Kind {
	case results.KindCount:
		p, err := population(InitialPopulation, m.Value, m.Suppressed)
		if err != nil {
			return g, err
		}
		g.Population = append(g.Population, p)
	case results.KindRatio:
		for _, f := range []struct {
			code string
			v    *float64
		}{{Numerator, m.Numerator}, {Denominator, m.Denominator}} {
			if f.v != nil && *f.v != math.Trunc(*f.v) {
				continue // a sum, not a population count
			}
			p, err := population(f.code, f.v, f.v == nil && m.Suppressed)
			if err != nil {
				return g, err
			}
			if p.Count != nil || len(p.Extension) > 0 {
				g.Population = append(g.Population, p)
			}
		}
		fallthrough
	case results.KindSum:
		if m.Value != nil && !m.Suppressed {
			if math.IsNaN(*m.Value) || math.IsInf(*m.Value, 0) {
				return g, fmt.Errorf("value %v is not finite", *m.Value)
			}
			g.MeasureScore = &Quantity{Value: *m.Value}
		}
	default:
		return g, fmt.Errorf("unknown kind %q", m.Kind)
	}
	// A ratio's stratification comes twice, numerator and denominator: one
	// stratifier, each stratum with both populations.
	byDim := map[string]int{}
	for _, s := range m.Strata {
		code := InitialPopulation
		switch s.Part {
		case results.PartNumerator:
			code = Numerator
		case results.PartDenominator:
			code = Denominator
		}
		k, seen := byDim[s.Dimension]
		if !seen {
			k = len(g.Stratifier)
			byDim[s.Dimension] = k
			g.Stratifier = append(g.Stratifier, Stratifier{Code: []CodeableConcept{{
				Coding: []Coding{{System: base + "/CodeSystem/stratifier", Code: s.Dimension}},
				Text:   s.Dimension,
			}}})
		}
		st := &g.Stratifier[k]
		for _, c := range s.Cells {
			p, err := population(code, c.Value, c.Suppressed)
			if err != nil {
				return g, fmt.Errorf("%s %s: %w", s.Dimension, c.Stratum, err)
			}
			j := slices.IndexFunc(st.Stratum, func(x Stratum) bool { return x.Value != nil && x.Value.Text == c.Stratum })
			if j >= 0 {
				st.Stratum[j].Population = append(st.Stratum[j].Population, p)
				continue
			}
			st.Stratum = append(st.Stratum, Stratum{
				Value: &CodeableConcept{
					Coding: []Coding{{System: base + "/CodeSystem/" + s.Dimension, Code: c.Stratum}},
					Text:   c.Stratum,
				},
				Population: []Population{p},
			})
		}
	}
	return g, nil
}

// population renders one count; a suppressed one is masked. A nil value that
// is not suppressed gives a population with neither count nor extension.
func population(code string, v *float64, suppressed bool) (Population, error) {
	p := Population{Code: &CodeableConcept{Coding: []Coding{{System: PopulationSystem, Code: code}}}}
	switch {
	case suppressed:
		if v != nil {
			return p, errors.New("suppressed figure carries a value")
		}
		p.Extension = []Extension{{URL: DataAbsentReason, ValueCode: "masked"}}
	case v != nil:
		if *v < 0 || *v != math.Trunc(*v) || *v > math.MaxInt32 {
			return p, fmt.Errorf("%v is not a population count", *v)
		}
		n := int64(*v)
		p.Count = &n
	}
	return p, nil
}
