package web

import (
	"context"
	"encoding/csv"
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/schemes"
)

// decimal converts a scheme decimal to a float.
func decimal(d schemes.Decimal) float64 { return float64(d.Units) / math.Pow10(d.Scale) }

// SchemeTarget is the target a scheme sets for measure id, nil when it
// sets none: the upper threshold of a points element paid on the
// measure's numerator over its denominator (the achievement that earns
// every point, as a proportion), or a gateway threshold on its value.
func SchemeTarget(sc *schemes.Scheme, id string) *float64 {
	for _, e := range sc.Elements {
		if e.Type == schemes.Points && e.Numerator.Measure == id && e.Denominator.Measure == id {
			v := decimal(e.UpperThreshold) / 100
			return &v
		}
	}
	for _, c := range sc.Gateway {
		if c.Type == schemes.CondThreshold && c.Measure.Measure == id && (c.Measure.Field == schemes.FieldValue || c.Measure.Field == "") {
			v := decimal(c.Value)
			return &v
		}
	}
	return nil
}

// target is the target of the first scheme covering p, which u may see,
// that sets one for measure id.
func (w *Web) target(ctx context.Context, u *collector.User, p collector.Practice, id string) *float64 {
	if w.opts.Claims == nil {
		return nil
	}
	all, err := w.opts.Claims.Schemes(ctx)
	if err != nil {
		w.log.Warn("read schemes for chart targets", "err", err)
		return nil
	}
	for _, sc := range all {
		if !claims.CanSeeScheme(u, sc) || !claims.Covers(sc, p) {
			continue
		}
		if t := SchemeTarget(sc, id); t != nil {
			return t
		}
	}
	return nil
}

// series answers GET /practices/{ods}/series/{measure}: a chart's data as
// CSV, for a spreadsheet.
func (w *Web) series(rw http.ResponseWriter, r *http.Request) {
	pack, ok := packParam(r)
	if !ok {
		w.refuse(rw, r, http.StatusBadRequest, "pack is not a pack id: use lower-case letters, digits, '.', '_' or '-'")
		return
	}
	id := r.PathValue("measure")
	i := slices.IndexFunc(PracticeCharts, func(m ChartMeasure) bool { return m.ID == id })
	if i < 0 {
		w.refuse(rw, r, http.StatusNotFound, "measure is not one the dashboard charts: use one of long_term, high_dose, long_term_reviewed, ome_per_1000")
		return
	}
	p, err := w.visiblePractice(r)
	if errors.Is(err, collector.ErrNotFound) {
		w.refuse(rw, r, http.StatusNotFound, "no such practice, or you may not see it")
		return
	}
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	rows, err := w.opts.Store.MeasureSeries(r.Context(), p.ODS, pack, id)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	rw.Header().Set("Content-Type", "text/csv; charset=utf-8")
	rw.Header().Set("Content-Disposition", `attachment; filename="`+p.ODS+"-"+id+`.csv"`)
	cw := csv.NewWriter(rw)
	_ = cw.Write([]string{"practice", "pack", "pack_version", "measure", "as_of", "numerator", "denominator", "value", "suppressed"})
	opt := func(v *float64) string {
		if v == nil {
			return ""
		}
		return strconv.FormatFloat(*v, 'f', -1, 64)
	}
	for _, m := range rows {
		_ = cw.Write([]string{p.ODS, pack, m.PackVersion, id, m.AsOf, opt(m.Numerator), opt(m.Denominator), opt(m.Value), strconv.FormatBool(m.Suppressed)})
	}
	cw.Flush()
}
