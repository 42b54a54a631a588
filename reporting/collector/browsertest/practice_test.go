package browsertest_test

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/catalogue"
	"github.com/nhs-steward/steward/reporting/collector/web"
	"github.com/nhs-steward/steward/reporting/collector/web/chart"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/reporting/spc"
)

// practicePage is what the practice page shows, read from the DOM.
type practicePage struct {
	Heading string            `json:"heading"`
	Latest  string            `json:"latest"` // the "Latest figures as of ..." heading
	Facts   map[string]string `json:"facts"`
	Figures []struct {
		ID      string   `json:"id"`
		Measure string   `json:"measure"` // data-measure: the id
		IDTitle string   `json:"idTitle"` // the title attribute of the row's header: the id
		Cells   []string `json:"cells"`   // measure title, numerator, denominator, value, pack version
	} `json:"figures"`
	Charts []chartDOM `json:"charts"`
}

// chartDOM is one run chart of the page.
type chartDOM struct {
	ID        string     `json:"id"` // of its section: chart-MEASURE
	SVG       bool       `json:"svg"`
	Namespace string     `json:"namespace"` // of the svg element as the browser parsed it
	Width     float64    `json:"width"`     // as laid out, in CSS pixels
	AriaLabel string     `json:"ariaLabel"`
	Variation string     `json:"variation"` // the bold text under the chart
	Caption   string     `json:"caption"`   // the whole line under the chart
	Points    []pointDOM `json:"points"`
	Lines     []lineDOM  `json:"lines"`
	Labels    []textDOM  `json:"labels"`
	// Texts are the chart's texts by class: "tick y", "tick x",
	// "axis-title y", "line-label", ...
	Texts   map[string][]string `json:"texts"`
	ViewBox string              `json:"viewBox"`
	Desc    string              `json:"desc"`
	Icons   []string            `json:"icons"` // data-variation / data-assurance of the icons
	Table   [][]string          `json:"table"` // the data table's rows
	CSV     string              `json:"csv"`   // the CSV link's href
}

type pointDOM struct {
	Class string  `json:"class"`
	Fill  string  `json:"fill"`
	Title string  `json:"title"` // the tooltip: "2025-03-31: 41 (concern: outside_limits)"
	CX    float64 `json:"cx"`
	CY    float64 `json:"cy"`
	BoxW  float64 `json:"boxWidth"` // of the rendered circle (getBBox): 2r
}

// textDOM is a text of the chart (axis labels, the variation) with its
// rendered box in SVG units.
type textDOM struct {
	Text  string  `json:"text"`
	X     float64 `json:"x"`
	Width float64 `json:"width"`
}

type lineDOM struct {
	Class string  `json:"class"`
	Title string  `json:"title"`
	X1    float64 `json:"x1"`
	Y1    float64 `json:"y1"`
	X2    float64 `json:"x2"`
	Y2    float64 `json:"y2"`
}

const readPracticePage = `(() => {
	const text = e => e ? e.textContent.trim() : "";
	const num = (e, a) => parseFloat(e.getAttribute(a));
	const facts = {};
	for (const dt of document.querySelectorAll('dl.facts dt')) facts[text(dt)] = text(dt.nextElementSibling);
	return {
		heading: text(document.querySelector('main h1')),
		latest: text([...document.querySelectorAll('main h2')].find(h => h.textContent.startsWith('Latest figures'))),
		facts,
		figures: [...document.querySelectorAll('table.figures tbody tr')].map(tr => ({id: tr.id, measure: tr.dataset.measure, idTitle: tr.cells[0].getAttribute('title'), cells: [...tr.cells].map(text)})),
		charts: [...document.querySelectorAll('section.chart')].map(s => {
			const svg = s.querySelector('svg');
			return {
				id: s.id, svg: !!svg,
				namespace: svg ? svg.namespaceURI : "",
				width: svg ? svg.getBoundingClientRect().width : 0,
				ariaLabel: svg ? svg.getAttribute('aria-label') : "",
				variation: text(s.querySelector('p.variation strong')),
				caption: text(s.querySelector('p')),
				points: svg ? [...svg.querySelectorAll('circle')].map(c => ({
					class: c.getAttribute('class'), fill: c.getAttribute('fill'), title: text(c.querySelector('title')),
					cx: num(c, 'cx'), cy: num(c, 'cy'), boxWidth: c.getBBox().width,
				})) : [],
				lines: svg ? [...svg.querySelectorAll('line')].map(l => ({
					class: l.getAttribute('class'), title: text(l.querySelector('title')),
					x1: num(l, 'x1'), y1: num(l, 'y1'), x2: num(l, 'x2'), y2: num(l, 'y2'),
				})) : [],
				labels: svg ? [...svg.querySelectorAll(':scope > text')].map(e => {
					const box = e.getBBox();
					return {text: e.textContent, x: box.x, width: box.width};
				}) : [],
				texts: svg ? [...svg.querySelectorAll(':scope > text')].reduce((m, e) => {
					const c = e.getAttribute('class') || ''; (m[c] = m[c] || []).push(e.textContent); return m;
				}, {}) : {},
				viewBox: svg ? svg.getAttribute('viewBox') : "",
				desc: svg ? text(svg.querySelector('desc')) : "",
				icons: svg ? [...svg.querySelectorAll('g.icon')].map(g => g.dataset.variation || g.dataset.assurance) : [],
				table: [...s.querySelectorAll('table.chart-table tbody tr')].map(tr => [...tr.cells].map(text)),
				csv: s.querySelector('a.csv') ? s.querySelector('a.csv').getAttribute('href') : "",
			};
		}),
	};
})()`

// TestPracticePage opens a practice from the overview and checks, from the
// DOM Chromium built, that the page shows the stored figures and that each
// run chart draws every stored month where reporting/spc and the chart's
// scale put it, with the mean and process limits of spc (none for a short
// series) and exactly the planted special-cause points marked.
func TestPracticePage(t *testing.T) {
	f, b := setup(t)
	b.signIn(analyst, password)

	// From the overview, by its link.
	b.open("/")
	resp := b.submit("follow the link to "+odsLong, chromedp.Click(chromedp.CSS(`main a[href="/practices/`+odsLong+`"]`)))
	if resp.Status != http.StatusOK || b.path() != "/practices/"+odsLong {
		t.Fatalf("following the overview's link: %d at %s", resp.Status, b.path())
	}
	page := eval[practicePage](b, "read the practice page", readPracticePage)
	checkPracticePage(t, f, odsLong, page)
	// The chart's CSV, fetched as the browser would download it, holds the
	// stored series.
	csv := run(b, "fetch the CSV", chromedp.Evaluate[string](`fetch(document.querySelector('#chart-long_term a.csv').href).then(r => r.text())`, chromedp.EvalAwaitPromise))
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	rows := f.series(t, odsLong, "long_term")
	if len(lines) != len(rows)+1 || !strings.HasPrefix(lines[0], "practice,pack,pack_version,measure,as_of,") {
		t.Fatalf("CSV of long_term: %d lines, %d months stored:\n%s", len(lines), len(rows), csv)
	}
	for i, r := range rows {
		if want := "," + r.AsOf + ",,," + fmtValue(r.Value) + ",false"; !strings.HasSuffix(lines[i+1], want) {
			t.Errorf("CSV row %d %q, want it to end %q", i, lines[i+1], want)
		}
	}
	viewport := eval[int](b, "read the viewport height", `window.innerHeight`)
	if size := b.screenshot(t, "practice-"+odsLong); size.Y <= viewport {
		t.Errorf("the practice page screenshot is %dpx high, the viewport %dpx: not the full page", size.Y, viewport)
	}

	// Six months: plain run charts.
	b.open("/practices/" + odsShort)
	page = eval[practicePage](b, "read the practice page", readPracticePage)
	checkPracticePage(t, f, odsShort, page)
	b.screenshot(t, "practice-"+odsShort)
}

func checkPracticePage(t *testing.T, f *fixture, ods string, page practicePage) {
	t.Helper()
	seed := seedFor(ods)
	last := seed.months[len(seed.months)-1]
	if want := seed.name + " (" + ods + ")"; page.Heading != want {
		t.Errorf("%s: heading %q, want %q", ods, page.Heading, want)
	}
	if want := "as of " + web.Month(last.asOf); !strings.HasSuffix(page.Latest, want) {
		t.Errorf("%s: %q, want the figures %s", ods, page.Latest, want)
	}
	if page.Facts["ICB"] != seed.icb {
		t.Errorf("%s: ICB %q, want %s", ods, page.Facts["ICB"], seed.icb)
	}
	hb := page.Facts["Last heartbeat"]
	hbOK := hb == "never"
	if seed.heartbeat {
		hbOK = strings.Contains(hb, "agent "+agentVersion) && strings.Contains(hb, "bundle 2026.1.0") && strings.Contains(hb, "2 pending")
	}
	if !hbOK {
		t.Errorf("%s: last heartbeat %q (the agent sent one: %v)", ods, hb, seed.heartbeat)
	}
	checkFigures(t, f, ods, page)

	if len(page.Charts) != len(web.PracticeCharts) {
		t.Fatalf("%s: %d charts, want %d", ods, len(page.Charts), len(web.PracticeCharts))
	}
	for i, cm := range web.PracticeCharts {
		t.Run(ods+"/"+cm.ID, func(t *testing.T) { checkChart(t, f, ods, cm, page.Charts[i]) })
	}
}

// checkFigures: the latest-figures table has one row per measure of the
// latest submission, showing what the store holds, which is what the agent
// sent.
func checkFigures(t *testing.T, f *fixture, ods string, page practicePage) {
	t.Helper()
	seed := seedFor(ods)
	sent := seed.months[len(seed.months)-1].document(ods)
	stored := f.latest(t, ods)
	if len(page.Figures) != len(stored.Measures) || len(stored.Measures) != len(sent.Measures) {
		t.Errorf("%s: %d figures shown, %d stored, %d sent", ods, len(page.Figures), len(stored.Measures), len(sent.Measures))
	}
	// Issue #19: measures by their titles in the pack's order (the id in
	// the title attribute), figures with separators and units, ratios as
	// percentages; no "Kind" column.
	spec, err := catalogue.New(nil, nil).Lookup(pack, stored.PackVersion)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, ms := range spec.Measures {
		if slices.ContainsFunc(stored.Measures, func(m collector.MeasureRow) bool { return m.MeasureID == ms.ID }) {
			order = append(order, ms.ID)
		}
	}
	var shownOrder []string
	shown := map[string][]string{}
	for _, r := range page.Figures {
		id := strings.TrimPrefix(r.ID, "figure-")
		shown[id] = r.Cells
		shownOrder = append(shownOrder, id)
		if r.Measure != id || r.IDTitle != id {
			t.Errorf("%s: row %s has data-measure %q and title %q, want the id", ods, r.ID, r.Measure, r.IDTitle)
		}
	}
	if !slices.Equal(shownOrder, order) {
		t.Errorf("%s: measures shown in the order %v, the pack's is %v", ods, shownOrder, order)
	}
	for _, m := range stored.Measures {
		cells, ok := shown[m.MeasureID]
		if !ok || len(cells) != 5 {
			t.Errorf("%s: no figure row for %s (%v)", ods, m.MeasureID, cells)
			continue
		}
		s := sent.Find(m.MeasureID)
		if s == nil || !same(s.Value, m.Value) || !same(s.Numerator, m.Numerator) || !same(s.Denominator, m.Denominator) {
			t.Errorf("%s: %s stored as %v (%v/%v), sent %+v", ods, m.MeasureID, fmtValue(m.Value), fmtValue(m.Numerator), fmtValue(m.Denominator), s)
		}
		for j, want := range []*float64{m.Numerator, m.Denominator, m.Value} {
			if got := cells[1+j]; !sameText(got, want) {
				t.Errorf("%s: %s %s shown as %q, stored %s", ods, m.MeasureID, []string{"numerator", "denominator", "value"}[j], got, fmtValue(want))
			}
		}
		if title := measureTitle(spec, m.MeasureID); cells[0] != title {
			t.Errorf("%s: row %v, want measure %s titled %q", ods, cells, m.MeasureID, title)
		}
		if m.Kind == "ratio" && m.Per == 0 && m.Value != nil && !strings.HasSuffix(cells[3], "%") {
			t.Errorf("%s: proportion %s shown as %q, want a percentage", ods, m.MeasureID, cells[3])
		}
		if cells[4] != m.PackVersion {
			t.Errorf("%s: %s shows pack version %q, stored %q", ods, m.MeasureID, cells[4], m.PackVersion)
		}
	}
	for id, want := range map[string]string{"ome_total_mg": " mg OME", "ome_per_1000": " mg OME per 1,000 adults", "long_term": " patients"} {
		if v := shown[id]; len(v) == 5 && !strings.HasSuffix(v[3], want) {
			t.Errorf("%s: %s shown as %q, want the unit%s", ods, id, v[3], want)
		}
	}
}

func measureTitle(spec *results.PackSpec, id string) string {
	for _, m := range spec.Measures {
		if m.ID == id {
			return m.Title
		}
	}
	return id
}

func same(a, b *float64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// sameText reports whether a figure cell shows v to the precision it
// shows ("" for none), its unit after the number.
func sameText(text string, v *float64) bool {
	if v == nil {
		return text == "" || text == "—"
	}
	num, _, _ := strings.Cut(text, " ")
	return shows(num, *v)
}

// checkChart checks one run chart against the stored series: its points,
// where they are drawn, their classes, the mean and limit lines, and the
// variation label, all as reporting/spc and chart's scale make them.
func checkChart(t *testing.T, f *fixture, ods string, cm web.ChartMeasure, got chartDOM) {
	if got.ID != "chart-"+cm.ID {
		t.Fatalf("chart section %q, want chart-%s", got.ID, cm.ID)
	}
	rows := f.series(t, ods, cm.ID)
	months := seedFor(ods).months
	if len(rows) != len(months) {
		t.Fatalf("%d months stored, %d sent", len(rows), len(months))
	}
	var pts []spc.Point
	for i, r := range rows {
		doc := months[i].document(ods)
		sent := doc.Find(cm.ID)
		if r.AsOf != months[i].asOf || r.Value == nil || sent == nil || !same(r.Value, sent.Value) {
			t.Fatalf("stored point %d: %s %s, sent %s %+v", i, r.AsOf, fmtValue(r.Value), months[i].asOf, sent)
		}
		pts = append(pts, spc.Point{Label: r.AsOf, Value: *r.Value})
	}
	c, err := spc.Analyse(pts, spc.Options{Improvement: cm.Improvement})
	if err != nil {
		t.Fatal(err)
	}
	opts := cm.Options(nil)
	scale := chart.NewScaleFor(c, opts)

	if !got.SVG || got.Namespace != "http://www.w3.org/2000/svg" || got.Width < 100 {
		t.Fatalf("no SVG chart laid out: svg %v, namespace %q, width %v", got.SVG, got.Namespace, got.Width)
	}
	if want := chart.VariationLabel(c.Variation); got.Variation != want || !strings.HasSuffix(got.AriaLabel, want) {
		t.Errorf("variation %q (aria-label %q), want %q", got.Variation, got.AriaLabel, want)
	}
	if c.Note != "" && !strings.Contains(got.Caption, c.Note) {
		t.Errorf("caption %q lacks the note %q", got.Caption, c.Note)
	}

	// One point per stored month, in order, drawn where the scale puts it.
	if len(got.Points) != len(rows) {
		t.Fatalf("%d points drawn, %d months stored", len(got.Points), len(rows))
	}
	special := 0
	for i, p := range got.Points {
		want := c.Points[i]
		label, value, rules := parseTip(p.Title)
		if label != web.Month(want.Label) || !shows(value, want.Value) {
			t.Errorf("point %d: tooltip %q, want %s: %v", i, p.Title, web.Month(want.Label), want.Value)
		}
		if !near(p.CX, scale.X(i)) || !near(p.CY, scale.Y(want.Value)) {
			t.Errorf("point %d (%v) at (%v, %v), want (%.2f, %.2f)", i, want.Value, p.CX, p.CY, scale.X(i), scale.Y(want.Value))
		}
		if math.Abs(p.BoxW-8) > 0.01 {
			t.Errorf("point %d renders %v wide, want a circle of radius 4", i, p.BoxW)
		}
		class := string(want.Class)
		if !c.Limits {
			class = "run"
		}
		if p.Class != "point "+class || p.Fill != chart.Colour(want.Class) {
			t.Errorf("point %d (%s %v): class %q fill %s, want %q fill %s", i, want.Label, want.Value, p.Class, p.Fill, "point "+class, chart.Colour(want.Class))
		}
		if wantRules := ruleTip(want); rules != wantRules {
			t.Errorf("point %d: tooltip rules %q, want %q", i, rules, wantRules)
		}
		// The planted special causes, and only they, are flagged.
		if c.Limits && want.Class != plantedClass(cm.ID, i) {
			t.Errorf("point %d (%s %v): spc classes it %s, the data was built to give %s", i, want.Label, want.Value, want.Class, plantedClass(cm.ID, i))
		}
		if want.Class != spc.CommonCause && want.Class != "" {
			special++
		}
	}
	// Higher values are drawn higher: smaller y.
	for i := range got.Points {
		for j := range got.Points {
			if vi, vj := c.Points[i].Value, c.Points[j].Value; vi > vj && !(got.Points[i].CY < got.Points[j].CY) {
				t.Errorf("point %d (%v) is drawn at y %v, not above point %d (%v) at y %v", i, vi, got.Points[i].CY, j, vj, got.Points[j].CY)
			}
		}
	}

	// The mean, and the process limits when there are 15 points or more.
	part := c.Partitions[0]
	lines := map[string][]lineDOM{}
	for _, l := range got.Lines {
		lines[l.Class] = append(lines[l.Class], l)
	}
	checkLine(t, "mean", lines["mean"], "mean ", part.Mean, scale)
	if c.Limits {
		// Limits of a count never go below zero (issue #19).
		checkLine(t, "upper process limit", lines["limit upper"], "process limit ", part.UpperLimit, scale)
		checkLine(t, "lower process limit", lines["limit lower"], "process limit ", math.Max(0, part.LowerLimit), scale)
	} else if n := len(lines["limit upper"]) + len(lines["limit lower"]); n != 0 {
		t.Errorf("%d limit lines on a run chart of %d points", n, len(pts))
	}
	if (len(pts) >= spc.MinPoints) != c.Limits {
		t.Errorf("%d points: spc limits %v", len(pts), c.Limits)
	}
	if cm.ID == "long_term" && c.Limits {
		// The planted baseline, by hand: mean 42, limits 42 -/+ 2.66 x 4.
		if !close4(part.Mean, longTermMean) || !close4(part.LowerLimit, longTermLimits[0]) || !close4(part.UpperLimit, longTermLimits[1]) {
			t.Errorf("spc: mean %v, limits %v and %v; the data was built for %v, %v", part.Mean, part.LowerLimit, part.UpperLimit, longTermMean, longTermLimits)
		}
	}
	t.Logf("%d points, mean %.6g, limits %v, %d special cause, variation %q", len(pts), part.Mean, c.Limits, special, got.Variation)

	t.Run("axes", func(t *testing.T) { checkAxes(t, cm, c, scale, got) })
	t.Run("labels", func(t *testing.T) {
		var bad []string
		for _, l := range got.Labels {
			if l.X < 0 || l.X+l.Width > chart.Width || strings.Contains(l.Text, "e+") {
				bad = append(bad, fmt.Sprintf("%q drawn from x %.1f to %.1f", l.Text, l.X, l.X+l.Width))
			}
		}
		if len(bad) > 0 {
			t.Errorf("axis labels in e-notation or cut off by the edge of the chart: %s", strings.Join(bad, "; "))
		}
	})
}

// checkLine checks that there is one horizontal line, titled prefix and
// the value, drawn at the value's y.
func checkLine(t *testing.T, what string, ls []lineDOM, prefix string, v float64, scale chart.Scale) {
	t.Helper()
	if len(ls) != 1 {
		t.Errorf("%d %s lines, want 1", len(ls), what)
		return
	}
	l := ls[0]
	shown, _, _ := strings.Cut(strings.TrimPrefix(l.Title, prefix), " ")
	if !strings.HasPrefix(l.Title, prefix) || !shows(shown, v) {
		t.Errorf("%s titled %q, want %s%v", what, l.Title, prefix, v)
	}
	if !near(l.Y1, scale.Y(v)) || l.Y1 != l.Y2 || l.X2 <= l.X1 {
		t.Errorf("%s drawn from (%v, %v) to (%v, %v), want horizontal at y %.2f", what, l.X1, l.Y1, l.X2, l.Y2, scale.Y(v))
	}
}

// parseTip splits a point's tooltip "MONTH: VALUE UNIT" or "MONTH: VALUE
// UNIT (CLASS: RULES)" into the month, the value as shown ("12,400",
// "74.3%") and the rules.
func parseTip(tip string) (label, value, rules string) {
	label, rest, _ := strings.Cut(tip, ": ")
	shown, rules, _ := strings.Cut(rest, " (")
	value, _, _ = strings.Cut(shown, " ")
	return label, value, strings.TrimSuffix(rules, ")")
}

// checkAxes: the value axis has nice ticks (1, 2 or 5 x 10^n apart) from
// zero, labelled as the measure reads; every month is labelled; the axes
// have titles; the mean and limits are labelled; the variation icon is
// drawn; the chart scales with its container; its data is in a table and
// a CSV link.
func checkAxes(t *testing.T, cm web.ChartMeasure, c spc.Chart, scale chart.Scale, got chartDOM) {
	if scale.Ticks[0] != 0 {
		t.Errorf("value axis starts at %v, want 0", scale.Ticks[0])
	}
	step := scale.Ticks[1] - scale.Ticks[0]
	if nice := chart.NiceStep(step); math.Abs(nice-step) > 1e-9*step {
		t.Errorf("tick step %v is not 1, 2 or 5 x 10^n", step)
	}
	var want []string
	for _, v := range scale.Ticks {
		want = append(want, chart.TickLabel(v, step, cm.Unit().Proportion))
	}
	if !slices.Equal(got.Texts["tick y"], want) {
		t.Errorf("value ticks %v, want %v", got.Texts["tick y"], want)
	}
	for _, l := range got.Texts["tick y"] {
		if strings.HasPrefix(l, "-") {
			t.Errorf("a negative tick %q on a count", l)
		}
	}
	if cm.Unit().Proportion && !strings.HasSuffix(got.Texts["tick y"][1], "%") {
		t.Errorf("proportion ticks %v are not percentages", got.Texts["tick y"])
	}
	var months []string
	for _, p := range c.Points {
		months = append(months, web.ShortMonth(p.Label))
	}
	if !slices.Equal(got.Texts["tick x"], months) {
		t.Errorf("month labels %v, want every month %v", got.Texts["tick x"], months)
	}
	if g := got.Texts["axis-title y"]; len(g) != 1 || g[0] != cm.YTitle {
		t.Errorf("value axis title %v, want %q", g, cm.YTitle)
	}
	if g := got.Texts["axis-title x"]; len(g) != 1 || !strings.HasPrefix(g[0], "Month") {
		t.Errorf("time axis title %v", g)
	}
	labels := strings.Join(got.Texts["line-label"], "|")
	for _, w := range []string{"Mean "} {
		if !strings.Contains(labels, w) {
			t.Errorf("line labels %q lack %q", labels, w)
		}
	}
	if c.Limits && (!strings.Contains(labels, "Upper limit ") || !strings.Contains(labels, "Lower limit ")) {
		t.Errorf("line labels %q lack the process limits", labels)
	}
	if len(got.Icons) != 2 || got.Icons[0] != string(c.Variation) || got.Icons[1] != string(c.Assurance) {
		t.Errorf("icons %v, want %s and %s", got.Icons, c.Variation, c.Assurance)
	}
	if got.ViewBox != fmt.Sprintf("0 0 %d %d", chart.Width, chart.Height) {
		t.Errorf("viewBox %q", got.ViewBox)
	}
	if !strings.Contains(got.Desc, fmt.Sprintf("%d months from %s to %s", len(c.Points), web.Month(c.Points[0].Label), web.Month(c.Points[len(c.Points)-1].Label))) {
		t.Errorf("text alternative %q", got.Desc)
	}
	if len(got.Table) != len(c.Points) {
		t.Errorf("data table has %d rows, the chart %d points", len(got.Table), len(c.Points))
	}
	for i, row := range got.Table {
		if i < len(c.Points) && (row[0] != web.Month(c.Points[i].Label) || !shows(strings.Fields(row[len(row)-2])[0], c.Points[i].Value)) {
			t.Errorf("data table row %d: %v, want %s %v", i, row, web.Month(c.Points[i].Label), c.Points[i].Value)
		}
	}
	if !strings.HasSuffix(strings.Split(got.CSV, "?")[0], "/series/"+cm.ID) {
		t.Errorf("CSV link %q", got.CSV)
	}
}

// ruleTip is the "CLASS: RULES" part of a point's tooltip, "" for none.
func ruleTip(p spc.PointResult) string {
	if p.Rules == 0 {
		return ""
	}
	return string(p.Class) + ": " + p.Rules.String()
}

// near: SVG coordinates are written with 2 decimals.
func near(got, want float64) bool { return math.Abs(got-want) <= 0.006 }

// close4: labels show 4 significant digits.
func close4(got, want float64) bool {
	return math.Abs(got-want) <= 5e-4*math.Max(math.Abs(want), 1e-9)+1e-12
}
