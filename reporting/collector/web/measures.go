package web

import (
	"slices"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/results"
)

// FigureView is one measure of a submission as the pages show it: its
// title from the pack, its unit and formatted figures.
type FigureView struct {
	collector.MeasureRow
	Title string
	Unit  Unit
}

// Value is the formatted value with its unit.
func (f FigureView) Value() string { return FormatFigure(f.MeasureRow.Value, f.Suppressed, f.Unit) }

// Numerator is a ratio's formatted numerator with its unit, "" otherwise.
func (f FigureView) Numerator() string {
	if f.Kind != results.KindRatio {
		return ""
	}
	return FormatPart(f.MeasureRow.Numerator, f.Unit.Numerator)
}

// Denominator is a ratio's formatted denominator with its unit.
func (f FigureView) Denominator() string {
	if f.Kind != results.KindRatio {
		return ""
	}
	return FormatPart(f.MeasureRow.Denominator, f.Unit.Denominator)
}

// spec returns the spec of a pack version, nil when the collector does
// not know it or has no catalogue.
func (w *Web) spec(pack, version string) *results.PackSpec {
	if w.opts.Packs == nil || version == "" {
		return nil
	}
	s, err := w.opts.Packs.Lookup(pack, version)
	if err != nil {
		return nil
	}
	return s
}

// measureSpec finds measure id in spec, nil when it is not there.
func measureSpec(spec *results.PackSpec, id string) *results.MeasureSpec {
	if spec == nil {
		return nil
	}
	for i := range spec.Measures {
		if spec.Measures[i].ID == id {
			return &spec.Measures[i]
		}
	}
	return nil
}

// figures returns rows in the pack's order, titled from it; measures the
// pack does not name keep their stored order after those it does.
func figures(spec *results.PackSpec, rows []collector.MeasureRow) []FigureView {
	out := make([]FigureView, 0, len(rows))
	for _, r := range rows {
		ms := measureSpec(spec, r.MeasureID)
		fv := FigureView{MeasureRow: r, Title: r.MeasureID, Unit: UnitOf(r.MeasureID, r.Kind, r.Per, ms)}
		if ms != nil && ms.Title != "" {
			fv.Title = ms.Title
		}
		out = append(out, fv)
	}
	order := func(id string) int {
		if spec == nil {
			return 0
		}
		i := slices.IndexFunc(spec.Measures, func(m results.MeasureSpec) bool { return m.ID == id })
		if i < 0 {
			return len(spec.Measures)
		}
		return i
	}
	slices.SortStableFunc(out, func(a, b FigureView) int { return order(a.MeasureID) - order(b.MeasureID) })
	return out
}
