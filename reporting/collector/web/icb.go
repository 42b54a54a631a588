package web

import (
	"context"
	"encoding/csv"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/web/chart"
	"github.com/nhs-steward/steward/reporting/spc"
)

// The ICB view: for each measure every practice in one chart (a funnel
// plot for a proportion, a ranking for a rate per 1,000 adults), the
// ICB's own run chart, and the practices with a special cause in the
// latest month; filtered by PCN.

// eligibleAdults is the denominator of the rates per 1,000 adults.
const eligibleAdults = "eligible_adults"

// ICBPractice is one practice's figure in the latest month.
type ICBPractice struct {
	Practice               collector.Practice
	Numerator, Denominator string // formatted, "" for counts
	Value                  string // formatted with its unit
	Raw                    float64
	N                      float64 // the funnel's denominator
	Band, Side             string  // funnel: inside, 95 or 99.8; high or low
	Missing                string  // why there is no figure: "suppressed", "no figures this month"
}

// ICBMeasureView is one measure of the ICB view.
type ICBMeasureView struct {
	ChartMeasure
	Funnel    bool   // a proportion: funnel plot; otherwise a ranking
	ICBValue  string // the ICB's figure in the latest month, formatted
	ICBRaw    float64
	Compare   template.HTML // funnel or ranking
	RunChart  template.HTML
	Variation string
	// Series is the run chart's data, month by month; CSV is where it is
	// as a spreadsheet.
	Series    []ICBPoint
	CSV       string
	Practices []ICBPractice
	Unit      string // what the comparison's values are in
}

// ICBPoint is one month of the ICB's run chart: the sums it is made of.
type ICBPoint struct {
	AsOf             string
	Numerator, Denom float64
	Value            float64
	Formatted, Month string
}

// SpecialCause is a practice whose latest point is a special cause.
type SpecialCause struct {
	Practice collector.Practice
	Measure  ChartMeasure
	Class    string // improvement, concern, neutral
	Label    string // the variation in words
	Value    string
}

// ICBView is the data of the ICB view.
type ICBView struct {
	ICB      string
	ICBs     []string // for an administrator, the ICBs to choose from
	PCN      string
	PCNs     []string
	AsOf     string // the latest month with figures
	Count    int    // practices shown
	Measures []ICBMeasureView
	Special  []SpecialCause
}

func (w *Web) icbView(rw http.ResponseWriter, r *http.Request) {
	v, ok := w.icbSelection(rw, r)
	if !ok {
		return
	}
	w.Render(rw, r, http.StatusOK, "icb", Page{Title: "ICB view", Data: v})
}

// icbSeries answers GET /icb/series/{measure}: the ICB's run chart of a
// measure as CSV (the same icb and pcn choices as the ICB view).
func (w *Web) icbSeries(rw http.ResponseWriter, r *http.Request) {
	id := r.PathValue("measure")
	if !slices.ContainsFunc(ICBMeasures, func(m ChartMeasure) bool { return m.ID == id }) {
		w.refuse(rw, r, http.StatusNotFound, "measure is not one the ICB view charts: use one of long_term, high_dose, long_term_reviewed, ome_per_1000")
		return
	}
	v, ok := w.icbSelection(rw, r)
	if !ok {
		return
	}
	name := v.ICB
	if v.PCN != "" {
		name += "-" + strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
				return r
			}
			return '_'
		}, v.PCN)
	}
	rw.Header().Set("Content-Type", "text/csv; charset=utf-8")
	rw.Header().Set("Content-Disposition", `attachment; filename="icb-`+name+"-"+id+`.csv"`)
	cw := csv.NewWriter(rw)
	_ = cw.Write([]string{"icb", "pcn", "pack", "measure", "as_of", "numerator_sum", "denominator_sum", "value"})
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	for _, m := range v.Measures {
		if m.ID != id {
			continue
		}
		for _, pt := range m.Series {
			_ = cw.Write([]string{v.ICB, v.PCN, DefaultPack, id, pt.AsOf, f(pt.Numerator), f(pt.Denom), f(pt.Value)})
		}
	}
	cw.Flush()
}

// icbSelection reads the ICB view's choices (icb, pcn) and fills the view;
// on a problem it answers and returns false.
func (w *Web) icbSelection(rw http.ResponseWriter, r *http.Request) (ICBView, bool) {
	ctx := r.Context()
	u := UserFrom(ctx)
	q := r.URL.Query()
	if u.Role != collector.RoleAdmin && u.Role != collector.RoleICBAnalyst {
		w.refuse(rw, r, http.StatusForbidden, "the ICB view is for ICB staff: a practice user sees their own practice's page")
		return ICBView{}, false
	}
	ps, err := w.PracticesFor(ctx, u)
	if err != nil {
		w.fail(rw, r, err)
		return ICBView{}, false
	}
	v := ICBView{ICB: u.ICB}
	for _, p := range ps {
		if !slices.Contains(v.ICBs, p.ICB) {
			v.ICBs = append(v.ICBs, p.ICB)
		}
	}
	sort.Strings(v.ICBs)
	if icb := q.Get("icb"); icb != "" {
		if !odsPattern.MatchString(icb) || !collector.CanSeeICB(u, icb) {
			w.refuse(rw, r, http.StatusBadRequest, "icb is not an ICB code you may see")
			return ICBView{}, false
		}
		v.ICB = icb
	}
	if v.ICB == "" && len(v.ICBs) > 0 {
		v.ICB = v.ICBs[0]
	}
	if u.Role != collector.RoleAdmin {
		v.ICBs = nil
	}
	var mine []collector.Practice
	for _, p := range ps {
		if p.ICB != v.ICB {
			continue
		}
		if p.PCN != "" && !slices.Contains(v.PCNs, p.PCN) {
			v.PCNs = append(v.PCNs, p.PCN)
		}
		mine = append(mine, p)
	}
	sort.Strings(v.PCNs)
	if pcn := q.Get("pcn"); pcn != "" {
		if !slices.Contains(v.PCNs, pcn) {
			w.refuse(rw, r, http.StatusBadRequest, "pcn is not a primary care network of the ICB: choose one from the list")
			return ICBView{}, false
		}
		v.PCN = pcn
		mine = slices.DeleteFunc(mine, func(p collector.Practice) bool { return p.PCN != pcn })
	}
	if err := w.fillICB(ctx, &v, mine); err != nil {
		w.fail(rw, r, err)
		return ICBView{}, false
	}
	return v, true
}

// ICBMeasures are the measures of the ICB view: those of the practice
// page's charts.
var ICBMeasures = PracticeCharts

func (w *Web) fillICB(ctx context.Context, v *ICBView, practices []collector.Practice) error {
	ids := []string{eligibleAdults}
	for _, m := range ICBMeasures {
		ids = append(ids, m.ID)
	}
	rows, err := w.opts.Store.ICBMeasureRows(ctx, DefaultPack, v.ICB, ids)
	if err != nil {
		return err
	}
	byODS := map[string]collector.Practice{}
	for _, p := range practices {
		byODS[p.ODS] = p
	}
	v.Count = len(practices)
	// month -> practice -> measure -> row
	data := map[string]map[string]map[string]collector.MeasureRow{}
	var months []string
	for _, r := range rows {
		if _, ok := byODS[r.Practice]; !ok {
			continue
		}
		if data[r.AsOf] == nil {
			data[r.AsOf] = map[string]map[string]collector.MeasureRow{}
			months = append(months, r.AsOf)
		}
		if data[r.AsOf][r.Practice] == nil {
			data[r.AsOf][r.Practice] = map[string]collector.MeasureRow{}
		}
		data[r.AsOf][r.Practice][r.MeasureID] = r
	}
	sort.Strings(months)
	if len(months) == 0 {
		return nil
	}
	v.AsOf = months[len(months)-1]
	latest := data[v.AsOf]
	for _, m := range ICBMeasures {
		mv := ICBMeasureView{ChartMeasure: m, Funnel: m.Kind == "ratio" && m.Per <= 1,
			CSV: "/icb/series/" + m.ID + "?" + url.Values{"icb": {v.ICB}, "pcn": {v.PCN}}.Encode()}
		unit := m.Unit()
		perAdults := m.Kind == "count" // counts compare as rates per 1,000 adults
		if perAdults {
			unit = Unit{Value: "per 1,000 adults", Count: true}
		}
		mv.Unit = unit.Value
		// The ICB's run chart: sum of numerators over sum of denominators.
		var pts []spc.Point
		for _, month := range months {
			if num, den, ok := icbSums(data[month], m, perAdults); ok {
				x := scale(num, den, m, perAdults)
				pts = append(pts, spc.Point{Label: month, Value: x})
				mv.Series = append(mv.Series, ICBPoint{AsOf: month, Numerator: num, Denom: den, Value: x,
					Formatted: FormatFigure(&x, false, unit), Month: Month(month)})
			}
		}
		if len(pts) > 0 {
			c, err := spc.Analyse(pts, spc.Options{Improvement: m.Improvement})
			if err != nil {
				return err
			}
			o := m.Options(nil)
			o.Title = "ICB " + v.ICB + ": " + m.Title
			if perAdults {
				o.YTitle, o.Percent = "Patients per 1,000 adults", false
				o.Format = func(x float64) string { return FormatFigure(&x, false, unit) }
			}
			mv.RunChart = chart.Draw(c, o)
			mv.Variation = chart.VariationLabel(c.Variation)
		}
		num, den, ok := icbSums(latest, m, perAdults)
		if ok {
			mv.ICBRaw = scale(num, den, m, perAdults)
			mv.ICBValue = FormatFigure(&mv.ICBRaw, false, unit)
		}
		var funnel []chart.FunnelPoint
		var ranked []chart.RankedItem
		for _, p := range practices {
			ip := ICBPractice{Practice: p}
			row, has := latest[p.ODS][m.ID]
			switch {
			case !has:
				ip.Missing = "no figures this month"
			case row.Suppressed:
				ip.Missing = "suppressed"
			}
			if ip.Missing == "" {
				if x, n, ok := practiceFigure(latest[p.ODS], m, perAdults); ok {
					ip.Raw, ip.N = x, n
					ip.Value = FormatFigure(&x, false, unit)
					if m.Kind == "ratio" {
						ip.Numerator, ip.Denominator = FormatPart(row.Numerator, unit.Numerator), FormatPart(row.Denominator, unit.Denominator)
					}
					if mv.Funnel {
						pt := chart.FunnelPoint{ID: p.ODS, Label: p.Name + " (" + p.ODS + ")", N: n, P: x}
						ip.Band, ip.Side = chart.Band(pt, mv.ICBRaw)
						funnel = append(funnel, pt)
					} else {
						ranked = append(ranked, chart.RankedItem{ID: p.ODS, Label: p.Name, Value: x, Text: ip.Value})
					}
				} else {
					ip.Missing = "no denominator"
				}
			}
			mv.Practices = append(mv.Practices, ip)
			if sc := practiceSpecialCause(data, months, p, m); sc != nil {
				v.Special = append(v.Special, *sc)
			}
		}
		if mv.Funnel && ok {
			mv.Compare = chart.Funnel(funnel, mv.ICBRaw, chart.FunnelOptions{Title: m.Title + ": every practice, " + Month(v.AsOf),
				XTitle: "Long-term opioid users (the denominator)", YTitle: m.YTitle, HigherIsBetter: m.Improvement == spc.HigherIsBetter})
		} else if ok {
			axis := "mg OME per 1,000 adults"
			if perAdults {
				axis = "Patients per 1,000 adults"
			}
			mv.Compare = chart.Ranked(ranked, mv.ICBRaw, m.Title+": every practice, "+Month(v.AsOf), axis)
		}
		v.Measures = append(v.Measures, mv)
	}
	return nil
}

// icbSums adds up a measure's numerators and denominators over the
// practices of one month (counts over eligible adults when perAdults),
// leaving out suppressed rows and practices without a denominator.
func icbSums(month map[string]map[string]collector.MeasureRow, m ChartMeasure, perAdults bool) (num, den float64, ok bool) {
	for _, rows := range month {
		row, has := rows[m.ID]
		if !has || row.Suppressed {
			continue
		}
		if perAdults {
			el, has := rows[eligibleAdults]
			if row.Value == nil || !has || el.Value == nil || *el.Value <= 0 {
				continue
			}
			num, den = num+*row.Value, den+*el.Value
		} else {
			if row.Numerator == nil || row.Denominator == nil {
				continue
			}
			num, den = num+*row.Numerator, den+*row.Denominator
		}
		ok = true
	}
	return num, den, ok && den > 0
}

// scale turns sums into the measure's figure: a proportion, or a rate per
// its scale (per 1,000 adults for counts).
func scale(num, den float64, m ChartMeasure, perAdults bool) float64 {
	per := m.Per
	if perAdults {
		per = 1000
	}
	if per == 0 {
		per = 1
	}
	return num / den * per
}

// practiceFigure is one practice's figure for the comparison, and its
// denominator.
func practiceFigure(rows map[string]collector.MeasureRow, m ChartMeasure, perAdults bool) (x, n float64, ok bool) {
	num, den, ok := icbSums(map[string]map[string]collector.MeasureRow{"": rows}, m, perAdults)
	if !ok {
		return 0, 0, false
	}
	return scale(num, den, m, perAdults), den, true
}

// practiceSpecialCause analyses a practice's own series of measure m (as
// its page does) and returns its latest point when it is a special cause
// in the ICB's latest month.
func practiceSpecialCause(data map[string]map[string]map[string]collector.MeasureRow, months []string, p collector.Practice, m ChartMeasure) *SpecialCause {
	var pts []spc.Point
	for _, month := range months {
		row, ok := data[month][p.ODS][m.ID]
		if !ok || row.Suppressed || row.Value == nil {
			continue
		}
		pts = append(pts, spc.Point{Label: month, Value: *row.Value})
	}
	if len(pts) == 0 || pts[len(pts)-1].Label != months[len(months)-1] {
		return nil
	}
	c, err := spc.Analyse(pts, spc.Options{Improvement: m.Improvement})
	if err != nil || !c.Limits {
		return nil
	}
	last := c.Points[len(c.Points)-1]
	if last.Class == spc.CommonCause || last.Class == "" {
		return nil
	}
	val := last.Value
	return &SpecialCause{Practice: p, Measure: m, Class: string(last.Class), Label: chart.VariationLabel(c.Variation) + " (" + last.Rules.String() + ")",
		Value: FormatFigure(&val, false, m.Unit())}
}
