package web

import (
	"bytes"
	"context"
	"net/http"
	"slices"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/results"
)

// The equity view: a stratified measure across the ICB by IMD quintile,
// sex and age band, from the disclosure-controlled strata of the
// practices' stored results documents. A suppressed cell is shown as
// suppressed, never as zero; sums add only the published cells.

// EquityMeasures are the measures the equity view offers: those the pack
// stratifies that the dashboard charts.
var EquityMeasures = []string{"long_term", "high_dose"}

// EquityDimensions are the stratifications shown, in order, with their
// headings.
var EquityDimensions = []struct{ ID, Title string }{
	{"imd_quintile", "By deprivation (IMD quintile: 1 most deprived, 5 least)"},
	{"sex", "By sex"},
	{"age_band", "By age band"},
}

// EquityCell is one stratum across the ICB.
type EquityCell struct {
	Stratum string
	Label   string // the stratum in words
	// Published is the sum of the practices' published (rounded) cells;
	// Suppressed how many practices suppressed it; Reporting how many
	// sent the stratification.
	Published  float64
	Suppressed int
	Reporting  int
	// Share is Published as a share of the published cells of the
	// dimension, "" when every practice suppressed the stratum.
	Share string
}

// Text is the cell as shown: "suppressed" when every practice that sent
// it suppressed it; "at least N" when some did.
func (c EquityCell) Text() string {
	switch {
	case c.Reporting == 0:
		return "—"
	case c.Suppressed == c.Reporting:
		return "suppressed"
	case c.Suppressed > 0:
		return "at least " + Thousands(c.Published, 0)
	}
	return Thousands(c.Published, 0)
}

// EquityDimension is one stratification across the ICB.
type EquityDimension struct {
	ID, Title string
	Cells     []EquityCell
	// Practices is each practice's cells, in the order of Cells: a value
	// or "suppressed".
	Practices []EquityPractice
}

// EquityPractice is one practice's row of a dimension.
type EquityPractice struct {
	Practice collector.Practice
	Cells    []string
}

// EquityView is the data of the equity view.
type EquityView struct {
	ICB, Measure, Title string
	Measures            []ChartMeasure
	AsOf                string
	Practices           int // practices with a document that month
	Dimensions          []EquityDimension
}

var stratumLabels = map[string]map[string]string{
	"sex":          {"F": "Female", "M": "Male", "U": "Not known"},
	"imd_quintile": {"1": "1 (most deprived)", "5": "5 (least deprived)", "unknown": "Not known"},
	"age_band":     {"under_18": "Under 18", "80+": "80 and over"},
}

func (w *Web) equity(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := UserFrom(ctx)
	if u.Role != collector.RoleAdmin && u.Role != collector.RoleICBAnalyst {
		w.refuse(rw, r, http.StatusForbidden, "the equity view is for ICB staff")
		return
	}
	q := r.URL.Query()
	v := EquityView{ICB: u.ICB, Measure: EquityMeasures[0]}
	if m := q.Get("measure"); m != "" {
		if !slices.Contains(EquityMeasures, m) {
			w.refuse(rw, r, http.StatusBadRequest, "measure is not one the equity view shows: use long_term or high_dose")
			return
		}
		v.Measure = m
	}
	if icb := q.Get("icb"); icb != "" {
		if !odsPattern.MatchString(icb) || !collector.CanSeeICB(u, icb) {
			w.refuse(rw, r, http.StatusBadRequest, "icb is not an ICB code you may see")
			return
		}
		v.ICB = icb
	}
	for _, m := range PracticeCharts {
		if slices.Contains(EquityMeasures, m.ID) {
			v.Measures = append(v.Measures, m)
			if m.ID == v.Measure {
				v.Title = m.Title
			}
		}
	}
	ps, err := w.PracticesFor(ctx, u)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	if v.ICB == "" && len(ps) > 0 {
		v.ICB = ps[0].ICB
	}
	if err := w.fillEquity(ctx, &v, ps); err != nil {
		w.fail(rw, r, err)
		return
	}
	w.Render(rw, r, http.StatusOK, "equity", Page{Title: "Equity", Data: v})
}

func (w *Web) fillEquity(ctx context.Context, v *EquityView, ps []collector.Practice) error {
	rows, err := w.opts.Store.ICBMeasureRows(ctx, DefaultPack, v.ICB, []string{v.Measure})
	if err != nil {
		return err
	}
	byODS := map[string]collector.Practice{}
	for _, p := range ps {
		if p.ICB == v.ICB {
			byODS[p.ODS] = p
		}
	}
	for _, r := range rows {
		if _, ok := byODS[r.Practice]; ok && r.AsOf > v.AsOf {
			v.AsOf = r.AsOf
		}
	}
	if v.AsOf == "" {
		return nil
	}
	docs, err := w.opts.Store.ICBDocuments(ctx, DefaultPack, v.ICB, v.AsOf)
	if err != nil {
		return err
	}
	var spec *results.PackSpec
	type practiceStrata struct {
		p      collector.Practice
		strata map[string]map[string]results.Cell
	}
	var got []practiceStrata
	for _, d := range docs {
		p, ok := byODS[d.Practice]
		if !ok {
			continue
		}
		doc, err := results.Decode(bytes.NewReader(d.Body))
		if err != nil {
			w.log.Warn("equity: a stored document does not decode", "practice", d.Practice, "as_of", v.AsOf, "err", err)
			continue
		}
		if spec == nil {
			spec = w.spec(doc.Pack.ID, doc.Pack.Version)
		}
		ps := practiceStrata{p: p, strata: map[string]map[string]results.Cell{}}
		if m := doc.Find(v.Measure); m != nil {
			for _, st := range m.Strata {
				ps.strata[st.Dimension] = map[string]results.Cell{}
				for _, c := range st.Cells {
					ps.strata[st.Dimension][c.Stratum] = c
				}
			}
		}
		got = append(got, ps)
	}
	v.Practices = len(got)
	for _, dim := range EquityDimensions {
		ed := EquityDimension{ID: dim.ID, Title: dim.Title}
		labels := stratumOrder(spec, v.Measure, dim.ID)
		for _, ps := range got {
			for s := range ps.strata[dim.ID] {
				if !slices.Contains(labels, s) {
					labels = append(labels, s)
				}
			}
		}
		var total float64
		for _, s := range labels {
			c := EquityCell{Stratum: s, Label: s}
			if l, ok := stratumLabels[dim.ID][s]; ok {
				c.Label = l
			}
			for _, ps := range got {
				cell, ok := ps.strata[dim.ID][s]
				if !ok {
					continue
				}
				c.Reporting++
				if cell.Suppressed || cell.Value == nil {
					c.Suppressed++
					continue
				}
				c.Published += *cell.Value
			}
			total += c.Published
			ed.Cells = append(ed.Cells, c)
		}
		for i := range ed.Cells {
			if c := &ed.Cells[i]; total > 0 && c.Suppressed < c.Reporting {
				c.Share = Percent(c.Published / total)
			}
		}
		for _, ps := range got {
			ep := EquityPractice{Practice: ps.p}
			for _, s := range labels {
				cell, ok := ps.strata[dim.ID][s]
				switch {
				case !ok:
					ep.Cells = append(ep.Cells, "—")
				case cell.Suppressed || cell.Value == nil:
					ep.Cells = append(ep.Cells, "suppressed")
				default:
					ep.Cells = append(ep.Cells, Thousands(*cell.Value, 0))
				}
			}
			ed.Practices = append(ed.Practices, ep)
		}
		v.Dimensions = append(v.Dimensions, ed)
	}
	return nil
}

// stratumOrder is the pack's order of a dimension's strata, nil when the
// pack is not known.
func stratumOrder(spec *results.PackSpec, measure, dim string) []string {
	if spec == nil {
		return nil
	}
	m := spec.Measure(measure)
	if m == nil {
		return nil
	}
	for _, st := range m.Strata {
		if st.Dimension == dim {
			return slices.Clone(st.Labels)
		}
	}
	return nil
}
