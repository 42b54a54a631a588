// Package measures turns what a search engine computed into the results
// document of MEASURES.md: values, ratios, per-scaling, strata in document
// order, and the names and versions of everything that made the figures.
// Every engine's output goes through here, so a document looks the same
// whichever engine produced it. Disclosure control is applied afterwards
// (package disclosure); the document built here still holds exact strata.
package measures

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
)

// Run is one search's plan and what an engine computed for it.
type Run struct {
	Plan   *model.Plan
	Result *engine.Result
	Status string // "ok", "no_data" or "failed"
	// Series is the search's series measures evaluated at each month end
	// (nil when no measure has a series).
	Series *Series
}

// Series is a plan of series measures (model.Plan.SeriesPlan) evaluated at
// each of Dates, oldest first; Results parallel Dates.
type Series struct {
	Plan    *model.Plan
	Dates   []time.Time
	Results []*engine.Result
}

// Meta describes the run that made the figures.
type Meta struct {
	Practice string
	Pack     *model.Pack
	Dates    model.Dates
	Params   map[string]float64
	Producer results.Producer
	// Extra references (for example the OME factor set) to name in the
	// document besides the codelists and reference tables of the searches.
	Extra []results.Reference
	Now   time.Time
}

// Document builds the results document of a pack run.
func Document(meta Meta, runs []Run) (*results.Document, error) {
	d := &results.Document{
		Schema:     results.Schema,
		Practice:   meta.Practice,
		Pack:       results.PackRef{ID: meta.Pack.ID, Version: meta.Pack.Version},
		AsOf:       meta.Dates.AsOf.Format(time.DateOnly),
		Parameters: map[string]string{},
		Producer:   meta.Producer,
	}
	if !meta.Dates.Baseline.IsZero() {
		d.Baseline = meta.Dates.Baseline.Format(time.DateOnly)
	}
	if !meta.Now.IsZero() {
		d.GeneratedAt = meta.Now.UTC().Format(time.RFC3339)
	}
	refs := map[string]results.Reference{}
	for _, r := range runs {
		s := r.Plan.Search
		for _, p := range s.Parameters {
			v := p.Default
			if o, ok := meta.Params[p.Name]; ok {
				v = o
			}
			d.Parameters[p.Name] = strconv.FormatFloat(v, 'f', -1, 64)
		}
		addReferences(refs, s)
		status := r.Status
		if status == "" {
			status = "ok"
		}
		run := results.SearchRun{Search: s.ID, Status: status}
		if r.Result != nil {
			run.DurationMS = math.Round(float64(r.Result.Duration.Microseconds())) / 1000
			run.Rows = r.Result.Rows
		}
		d.Runs = append(d.Runs, run)
		if r.Result == nil {
			return nil, fmt.Errorf("search %s: no result", s.ID)
		}
		if len(r.Result.Measures) != len(r.Plan.Measures) {
			return nil, fmt.Errorf("search %s: engine returned %d measures for %d planned", s.ID, len(r.Result.Measures), len(r.Plan.Measures))
		}
		for i, pm := range r.Plan.Measures {
			m, err := measure(pm, r.Result.Measures[i], s.AgeBands)
			if err != nil {
				return nil, fmt.Errorf("search %s: %w", s.ID, err)
			}
			if pm.Series > 0 {
				if m.Series, err = points(pm, r.Series); err != nil {
					return nil, fmt.Errorf("search %s: measure %s: %w", s.ID, pm.ID, err)
				}
			}
			d.Measures = append(d.Measures, m)
		}
	}
	for _, r := range meta.Extra {
		refs[r.Kind+":"+r.Name] = r
	}
	d.References = sortedReferences(refs)
	return d, nil
}

// addReferences adds every codelist file and reference table search s
// reads to refs, keyed so that each is named once.
func addReferences(refs map[string]results.Reference, s *model.Search) {
	for _, c := range s.Codelists {
		for _, f := range c.Files {
			key := "codelist:" + f.Path
			refs[key] = results.Reference{Kind: "codelist", Name: c.Name + ":" + baseName(f.Path), Version: f.Version, SHA256: f.SHA256}
		}
	}
	for _, t := range s.References {
		refs["reference:"+t.Name] = results.Reference{Kind: "reference_table", Name: t.Name, Version: t.Version, SHA256: t.SHA256}
	}
}

func sortedReferences(refs map[string]results.Reference) []results.Reference {
	keys := make([]string, 0, len(refs))
	for k := range refs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]results.Reference, 0, len(keys))
	for _, k := range keys {
		out = append(out, refs[k])
	}
	return out
}

// Spec describes the results documents Document builds for pack p: its
// measures with their kinds, titles, scales and strata, its searches,
// parameters and references. The collector holds every submission naming
// p's id and version to it (results.Document.CheckPack).
func Spec(p *model.Pack) *results.PackSpec {
	out := &results.PackSpec{ID: p.ID, Version: p.Version, FirstAsOf: p.FirstAsOf}
	refs := map[string]results.Reference{}
	for _, s := range p.Searches {
		out.Searches = append(out.Searches, s.ID)
		for _, prm := range s.Parameters {
			if !slices.Contains(out.Parameters, prm.Name) {
				out.Parameters = append(out.Parameters, prm.Name)
			}
		}
		addReferences(refs, s)
		for _, m := range s.Measures {
			ms := results.MeasureSpec{ID: m.ID, Kind: string(m.Kind), Title: m.Title, At: anchor(m.At), Publishable: m.Publishable, Series: m.Series}
			if m.Kind == model.KindRatio {
				ms.Per = m.Per
				if ms.Per <= 0 {
					ms.Per = 1
				}
				ms.NumeratorPatients = m.Numerator != nil && m.Numerator.Kind == model.KindCount
				ms.DenominatorPatients = m.Denominator != nil && m.Denominator.Kind == model.KindCount
			}
			for _, dim := range m.Stratify {
				ms.Strata = append(ms.Strata, results.StrataSpec{Dimension: string(dim), Labels: m.Labels(dim, s.AgeBands)})
			}
			out.Measures = append(out.Measures, ms)
		}
	}
	out.References = sortedReferences(refs)
	return out
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' || p[i] == '\\' {
			return p[i+1:]
		}
	}
	return p
}

func measure(pm *model.PlannedMeasure, r engine.MeasureResult, bands []int) (results.Measure, error) {
	if r.ID != pm.ID {
		return results.Measure{}, fmt.Errorf("engine result %q in the place of measure %q", r.ID, pm.ID)
	}
	m := results.Measure{
		ID:          pm.ID,
		Kind:        string(pm.Kind),
		Title:       pm.Title,
		At:          anchor(pm.At),
		Publishable: pm.Publishable,
	}
	switch pm.Kind {
	case model.KindCount, model.KindSum:
		v := 0.0
		if r.Value.Valid {
			v = r.Value.Value
		}
		if pm.Kind == model.KindCount {
			v = math.Round(v)
		} else {
			v = results.Round4(v)
		}
		m.Value = results.F(v)
	case model.KindRatio:
		num, den := 0.0, 0.0
		if r.Numerator.Valid {
			num = r.Numerator.Value
		}
		if r.Denominator.Valid {
			den = r.Denominator.Value
		}
		// The numerator and denominator are the raw figures (patients, mg);
		// per scales the value only (MEASURES.md: ome_per_1000 has a
		// denominator of 36 adults, never 0.036).
		per := 1.0
		if pm.Per > 0 {
			per = pm.Per
			m.Per = pm.Per
		}
		m.Numerator = results.F(results.Round4(num))
		m.Denominator = results.F(results.Round4(den))
		if den != 0 {
			m.Value = results.F(results.Round4(num / den * per))
		}
	default:
		return m, fmt.Errorf("measure %s: unknown kind %q", pm.ID, pm.Kind)
	}
	parts := []string{""}
	if pm.Kind == model.KindRatio {
		parts = []string{engine.PartNumerator, engine.PartDenominator}
	}
	for _, part := range parts {
		m.Strata = append(m.Strata, strata(pm, r, bands, part)...)
	}
	return m, nil
}

// strata are the stratifications of a count, or of a ratio's numerator or
// denominator (part).
func strata(pm *model.PlannedMeasure, r engine.MeasureResult, bands []int, part string) []results.Strata {
	var out []results.Strata
	for _, dim := range pm.Stratify {
		counts := map[string]int64{}
		for _, s := range r.Strata {
			if s.Dimension == dim && s.Part == part {
				counts[s.Label] += s.Count
			}
		}
		st := results.Strata{Dimension: string(dim), Part: part}
		for _, label := range pm.Labels(dim, bands) {
			c := counts[label]
			if c == 0 && dim == model.DimAgeBand && label == model.AgeBandLabels(bands)[0] {
				continue // below the first band: listed only when someone is in it
			}
			st.Cells = append(st.Cells, results.Cell{Stratum: label, Value: results.F(float64(c))})
		}
		out = append(out, st)
	}
	return out
}

func anchor(a model.Anchor) string {
	if a == model.AnchorBaseline {
		return "baseline"
	}
	return "as_of"
}

// points are the last pm.Series points of a series run for measure pm.
func points(pm *model.PlannedMeasure, sr *Series) ([]results.Point, error) {
	if sr == nil || sr.Plan == nil {
		return nil, fmt.Errorf("the measure has a series but the run has none")
	}
	if len(sr.Results) != len(sr.Dates) {
		return nil, fmt.Errorf("series: %d results for %d dates", len(sr.Results), len(sr.Dates))
	}
	j := -1
	for i, m := range sr.Plan.Measures {
		if m.ID == pm.ID {
			j = i
		}
	}
	if j < 0 {
		return nil, fmt.Errorf("series: the run did not evaluate it")
	}
	n := min(pm.Series, len(sr.Dates))
	out := make([]results.Point, 0, n)
	for k := len(sr.Dates) - n; k < len(sr.Dates); k++ {
		r := sr.Results[k]
		if r == nil || len(r.Measures) != len(sr.Plan.Measures) {
			return nil, fmt.Errorf("series as of %s: no result", sr.Dates[k].Format(time.DateOnly))
		}
		plain := *pm.Measure // a point has no strata
		plain.Stratify = nil
		m, err := measure(&model.PlannedMeasure{Measure: &plain, Value: pm.Value, Numerator: pm.Numerator, Denominator: pm.Denominator}, r.Measures[j], nil)
		if err != nil {
			return nil, err
		}
		out = append(out, results.Point{AsOf: sr.Dates[k].Format(time.DateOnly), Numerator: m.Numerator, Denominator: m.Denominator, Value: m.Value})
	}
	return out, nil
}
