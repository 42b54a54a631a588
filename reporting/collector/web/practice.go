package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/web/chart"
	"github.com/nhs-steward/steward/reporting/fhir"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/reporting/spc"
	"github.com/nhs-steward/steward/reporting/wire"
	"github.com/nhs-steward/steward/searches/bundle"
)

// DefaultPack is the pack the practice page and the MeasureReport endpoint
// show unless ?pack= names another.
const DefaultPack = "medsip"

var packPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// ChartMeasure is a measure drawn as a run chart on the practice page.
type ChartMeasure struct {
	ID, Title   string
	Improvement spc.Direction
	// YTitle is the value axis's title with its unit; Kind and Per are
	// the measure's, which give its unit.
	YTitle string
	Kind   string
	Per    float64
}

// PracticeCharts are the run charts of the practice page, in order.
var PracticeCharts = []ChartMeasure{
	{"long_term", "Patients on long-term opioids", spc.LowerIsBetter, "Patients", "count", 0},
	{"high_dose", "Patients on high-dose opioids (120 mg OME a day or more)", spc.LowerIsBetter, "Patients", "count", 0},
	{"long_term_reviewed", "Long-term opioid users reviewed in 12 months", spc.HigherIsBetter, "Reviewed (% of long-term users)", "ratio", 0},
	{"ome_per_1000", "Oral morphine equivalent per 1,000 adults", spc.LowerIsBetter, "mg OME per 1,000 adults", "ratio", 1000},
}

// Better says which way is better, in words.
func (m ChartMeasure) Better() string {
	if m.Improvement == spc.HigherIsBetter {
		return "higher is better"
	}
	return "lower is better"
}

// Unit is the measure's unit.
func (m ChartMeasure) Unit() Unit { return UnitOf(m.ID, m.Kind, m.Per, nil) }

// Options are the chart options of the measure: axis title and unit,
// months in words, from zero (every measure here is a count, a sum, a
// rate or a proportion), the target if a scheme sets one.
func (m ChartMeasure) Options(target *float64) chart.Options {
	u := m.Unit()
	return chart.Options{
		Title: m.Title, YTitle: m.YTitle, XTitle: "Month (figures as of the month's end)",
		Zero: true, Percent: u.Proportion, Target: target, Label: Month, Short: ShortMonth,
		Format: func(v float64) string { return FormatFigure(&v, false, u) },
	}
}

// ChartView is one run chart of the practice page.
type ChartView struct {
	ChartMeasure
	Direction string
	SVG       template.HTML
	Variation string
	Assurance string
	Note      string
	Points    int
	Skipped   int // suppressed or empty values left out
	// Target is the scheme's target for the measure, formatted; "" none.
	Target string
	// Rows are the chart's data for its table and CSV, oldest first.
	Rows []ChartRow
	// CSV is the address of the data as CSV.
	CSV string
	// Versions are the pack versions that produced the points, in order.
	Versions []VersionSpan
}

// ChartRow is one month of a chart's data.
type ChartRow struct {
	AsOf, Month, Value, Class string
	Numerator, Denominator    string
}

// VersionSpan is a run of months whose figures one pack version produced.
type VersionSpan struct {
	Version   string
	From, To  string // as-of dates
	Withdrawn bool
}

// WithdrawnMonth is a month whose current figures a withdrawn pack version
// produced: the ICB decides whether the practice resends it.
type WithdrawnMonth struct {
	AsOf, Version, Reason string
}

// PracticeView is the data of the practice page.
type PracticeView struct {
	Practice  collector.Practice
	Heartbeat *collector.Heartbeat
	Pack      string
	AsOf      string       // latest as-of date with figures, "" if none
	Figures   []FigureView // in the pack's order, titled from it
	Charts    []ChartView
	Payments  []PaymentView
	// Corrections are the documents the practice resent to correct a
	// month, newest first, with its reasons.
	Corrections []collector.Submission
	// Bundle is what the latest heartbeat says of the search bundle;
	// RunningWithdrawn is set when it still runs a withdrawn version.
	Bundle           *wire.BundleReport
	RunningWithdrawn *bundle.Withdrawal
	// FiguresVersion is the pack version of the latest figures, and
	// FiguresWithdrawn its withdrawal, if its authors withdrew it.
	FiguresVersion   string
	FiguresWithdrawn *bundle.Withdrawal
	// WithdrawnMonths are the months whose current figures come from a
	// withdrawn version, oldest first.
	WithdrawnMonths []WithdrawnMonth
}

// formatValue formats a measure value for the page: "suppressed" or "—"
// when there is none.
func formatValue(v *float64, suppressed bool) string {
	switch {
	case suppressed:
		return "suppressed"
	case v == nil:
		return "—"
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}

// visiblePractice looks up the practice named in the path and checks that
// the user may see it. A practice that does not exist and one the user may
// not see both give ErrNotFound, so codes cannot be probed.
func (w *Web) visiblePractice(r *http.Request) (collector.Practice, error) {
	ods := r.PathValue("ods")
	p, err := w.practiceNamed(r.Context(), ods)
	if err != nil {
		return p, err
	}
	if !collector.CanSeePractice(UserFrom(r.Context()), &p) {
		w.log.Warn("practice refused", "user", UserFrom(r.Context()).Name, "practice", ods, "path", r.URL.Path)
		return collector.Practice{}, fmt.Errorf("practice %s: %w", ods, collector.ErrNotFound)
	}
	return p, nil
}

func packParam(r *http.Request) (string, bool) {
	pack := r.URL.Query().Get("pack")
	if pack == "" {
		return DefaultPack, true
	}
	return pack, packPattern.MatchString(pack)
}

func (w *Web) practice(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pack, ok := packParam(r)
	if !ok {
		w.refuse(rw, r, http.StatusBadRequest, "pack is not a pack id")
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
	v := PracticeView{Practice: p, Pack: pack}
	hbs, err := w.opts.Store.LastHeartbeats(ctx, p.ICB)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	if hb, ok := hbs[p.ODS]; ok {
		v.Heartbeat = &hb
	}
	published := w.releases(ctx, pack)
	if v.Bundle = BundleReport(v.Heartbeat); v.Bundle != nil && !v.Bundle.BuiltIn {
		if rel, ok := published[v.Bundle.Running]; ok {
			v.RunningWithdrawn = rel.Withdrawn
		}
	}
	for _, m := range PracticeCharts {
		rows, err := w.opts.Store.MeasureSeries(ctx, p.ODS, pack, m.ID)
		if err != nil {
			w.fail(rw, r, err)
			return
		}
		cv, err := chartView(m, rows, published, w.target(ctx, UserFrom(ctx), p, m.ID))
		if err != nil {
			w.fail(rw, r, err)
			return
		}
		cv.CSV = "/practices/" + p.ODS + "/series/" + m.ID + "?pack=" + pack
		v.Charts = append(v.Charts, cv)
		for _, row := range rows {
			if row.AsOf > v.AsOf {
				v.AsOf = row.AsOf
			}
		}
	}
	if v.AsOf != "" {
		sub, err := w.opts.Store.CurrentSubmission(ctx, p.ODS, pack, v.AsOf)
		if err != nil && !errors.Is(err, collector.ErrNotFound) {
			w.fail(rw, r, err)
			return
		}
		v.Figures = figures(w.spec(pack, sub.PackVersion), sub.Measures)
		v.FiguresVersion = sub.PackVersion
		if rel, ok := published[sub.PackVersion]; ok {
			v.FiguresWithdrawn = rel.Withdrawn
		}
	}
	hist, err := w.opts.Store.SubmissionHistory(ctx, store.SubmissionFilter{Practice: p.ODS, Pack: pack})
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	for _, sub := range hist {
		if sub.Corrects != "" {
			v.Corrections = append(v.Corrections, sub)
		}
		if rel, ok := published[sub.PackVersion]; ok && rel.Withdrawn != nil && sub.SupersededBy == "" {
			v.WithdrawnMonths = append(v.WithdrawnMonths, WithdrawnMonth{AsOf: sub.AsOf, Version: sub.PackVersion, Reason: rel.Withdrawn.Reason})
		}
	}
	slices.SortFunc(v.WithdrawnMonths, func(a, b WithdrawnMonth) int { return strings.Compare(a.AsOf, b.AsOf) })
	slices.SortFunc(v.Corrections, func(a, b collector.Submission) int { return b.ReceivedAt.Compare(a.ReceivedAt) })
	if v.Payments, err = w.payments(ctx, UserFrom(ctx), p); err != nil {
		w.fail(rw, r, err)
		return
	}
	w.Render(rw, r, http.StatusOK, "practice", Page{Title: p.Name, Data: v, Flash: movedFlash(r.URL.Query(), v.Payments)})
}

func chartView(m ChartMeasure, rows []collector.MeasureRow, published map[string]bundle.TargetCustom, target *float64) (ChartView, error) {
	cv := ChartView{ChartMeasure: m, Direction: "lower is better"}
	for _, row := range rows {
		n := len(cv.Versions)
		if n > 0 && cv.Versions[n-1].Version == row.PackVersion {
			cv.Versions[n-1].To = row.AsOf
			continue
		}
		rel, ok := published[row.PackVersion]
		cv.Versions = append(cv.Versions, VersionSpan{Version: row.PackVersion, From: row.AsOf, To: row.AsOf, Withdrawn: ok && rel.Withdrawn != nil})
	}
	if m.Improvement == spc.HigherIsBetter {
		cv.Direction = "higher is better"
	}
	u := m.Unit()
	var pts []spc.Point
	var kept []int // rows index of each point
	for i, row := range rows {
		cr := ChartRow{AsOf: row.AsOf, Month: Month(row.AsOf), Value: FormatFigure(row.Value, row.Suppressed, u)}
		if row.Kind == "ratio" {
			cr.Numerator, cr.Denominator = FormatPart(row.Numerator, u.Numerator), FormatPart(row.Denominator, u.Denominator)
		}
		cv.Rows = append(cv.Rows, cr)
		if row.Value == nil || row.Suppressed {
			cv.Skipped++
			continue
		}
		pts = append(pts, spc.Point{Label: row.AsOf, Value: *row.Value})
		kept = append(kept, i)
	}
	cv.Points = len(pts)
	if target != nil {
		cv.Target = FormatFigure(target, false, u)
	}
	if len(pts) == 0 {
		return cv, nil
	}
	c, err := spc.Analyse(pts, spc.Options{Improvement: m.Improvement, Target: target})
	if err != nil {
		return cv, fmt.Errorf("chart %s: %w", m.ID, err)
	}
	for j, i := range kept {
		cv.Rows[i].Class = pointClass(c.Points[j])
	}
	cv.SVG = chart.Draw(c, m.Options(target))
	cv.Variation = chart.VariationLabel(c.Variation)
	if c.Assurance != spc.AssuranceNone {
		cv.Assurance = chart.AssuranceLabel(c.Assurance)
	}
	cv.Note = c.Note
	return cv, nil
}

// pointClass says a point's variation in words for the data table.
func pointClass(p spc.PointResult) string {
	switch p.Class {
	case spc.Improvement:
		return "special cause improvement (" + p.Rules.String() + ")"
	case spc.Concern:
		return "special cause concern (" + p.Rules.String() + ")"
	case spc.Neutral:
		return "special cause (" + p.Rules.String() + ")"
	case spc.CommonCause:
		return "common cause"
	}
	return "run chart: no limits"
}

// movedFlash is the success message after a claim moved: the move's
// redirect names the state, scheme and period, and the message is shown
// only when the claim is in that state now.
func movedFlash(q url.Values, pays []PaymentView) string {
	to := q.Get("moved")
	if to == "" {
		return ""
	}
	for _, pv := range pays {
		if pv.Scheme.ID == q.Get("scheme") && pv.Period == q.Get("period") && string(pv.Result.State) == to {
			what := map[string]string{"declared": "declared: the ICB will now review it for approval", "approved": "approved: finance will now pay it",
				"paid": "marked as paid", "calculated": "sent back to calculated: the practice can declare it again"}[to]
			return fmt.Sprintf("The claim under %s for %s (%s) is %s.", pv.Scheme.Title, Month(pv.Period), Money(pv.Result.TotalPence), what)
		}
	}
	return ""
}

func (w *Web) fail(rw http.ResponseWriter, r *http.Request, err error) {
	w.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	w.refuse(rw, r, http.StatusInternalServerError, "internal error: the collector could not answer; its log says why (try again, or ask the ICB's administrator)")
}

func writeProblem(rw http.ResponseWriter, status int, typ, detail string) {
	rw.Header().Set("Content-Type", "application/problem+json")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(wire.Problem{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail})
}

// measureReport answers GET /v1/practices/{ods}/measure-reports/{as_of}:
// the current submission of the practice for the pack (?pack=, default
// DefaultPack) at as_of, as a FHIR R4 MeasureReport.
func (w *Web) measureReport(rw http.ResponseWriter, r *http.Request) {
	pack, ok := packParam(r)
	if !ok {
		writeProblem(rw, http.StatusBadRequest, "urn:steward:problem:bad-request", "pack is not a pack id")
		return
	}
	asOf := r.PathValue("as_of")
	if _, err := time.Parse(time.DateOnly, asOf); err != nil {
		writeProblem(rw, http.StatusBadRequest, "urn:steward:problem:bad-request", "as_of must be a date, YYYY-MM-DD")
		return
	}
	p, err := w.visiblePractice(r)
	if errors.Is(err, collector.ErrNotFound) {
		writeProblem(rw, http.StatusNotFound, "urn:steward:problem:not-found", "no such practice, or you may not see it")
		return
	}
	if err != nil {
		w.problemInternal(rw, r, err)
		return
	}
	sub, err := w.opts.Store.CurrentSubmission(r.Context(), p.ODS, pack, asOf)
	if errors.Is(err, collector.ErrNotFound) {
		writeProblem(rw, http.StatusNotFound, "urn:steward:problem:not-found", fmt.Sprintf("practice %s has no %s results as of %s", p.ODS, pack, asOf))
		return
	}
	if err != nil {
		w.problemInternal(rw, r, err)
		return
	}
	doc, err := results.Decode(bytes.NewReader(sub.Body))
	if err != nil {
		w.problemInternal(rw, r, fmt.Errorf("decode stored submission %d: %w", sub.ID, err))
		return
	}
	mr, err := fhir.Render(doc, fhir.Options{})
	if err != nil {
		w.problemInternal(rw, r, err)
		return
	}
	rw.Header().Set("Content-Type", "application/fhir+json")
	rw.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(rw).Encode(mr)
}

func (w *Web) problemInternal(rw http.ResponseWriter, r *http.Request, err error) {
	w.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeProblem(rw, http.StatusInternalServerError, "urn:steward:problem:internal", "the collector could not complete the request; try again later")
}
