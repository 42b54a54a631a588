package browsertest_test

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
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
		heading: text(document.querySelector('main h2')),
		latest: text([...document.querySelectorAll('main h3')].find(h => h.textContent.startsWith('Latest figures'))),
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
	scale := chart.NewScale(c)

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
		label, value, rules, err := parseTip(p.Title)
		if err != nil || label != want.Label || !close4(value, want.Value) {
			t.Errorf("point %d: tooltip %q, want %s: %v", i, p.Title, want.Label, want.Value)
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
		checkLine(t, "upper process limit", lines["limit upper"], "process limit ", part.UpperLimit, scale)
		checkLine(t, "lower process limit", lines["limit lower"], "process limit ", part.LowerLimit, scale)
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
	shown, err := strconv.ParseFloat(strings.TrimPrefix(l.Title, prefix), 64)
	if !strings.HasPrefix(l.Title, prefix) || err != nil || !close4(shown, v) {
		t.Errorf("%s titled %q, want %s%v", what, l.Title, prefix, v)
	}
	if !near(l.Y1, scale.Y(v)) || l.Y1 != l.Y2 || l.X2 <= l.X1 {
		t.Errorf("%s drawn from (%v, %v) to (%v, %v), want horizontal at y %.2f", what, l.X1, l.Y1, l.X2, l.Y2, scale.Y(v))
	}
}

// parseTip splits a point's tooltip "LABEL: VALUE" or
// "LABEL: VALUE (CLASS: RULES)".
func parseTip(tip string) (label string, value float64, rules string, err error) {
	label, rest, _ := strings.Cut(tip, ": ")
	num, rules, _ := strings.Cut(rest, " (")
	value, err = strconv.ParseFloat(num, 64)
	return label, value, strings.TrimSuffix(rules, ")"), err
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
