package browsertest_test

import (
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/reporting/collector/web"
	"github.com/nhs-steward/steward/reporting/spc"
)

// icbPage is what the ICB view shows, read from the DOM.
type icbPage struct {
	Summary  string `json:"summary"`
	Measures []struct {
		ID       string `json:"id"`
		ICBValue string `json:"icbValue"` // data-icb-value: the raw figure
		Shown    string `json:"shown"`    // the ICB figure as shown
		FunnelP  string `json:"funnelP"`  // the funnel's centre, "" for a ranking
		Points   []struct {
			ODS    string  `json:"ods"`
			N      float64 `json:"n"`
			P      float64 `json:"p"`
			Band   string  `json:"band"`
			Side   string  `json:"side"`
			Fill   string  `json:"fill"`
			Limits string  `json:"limits"` // the limits drawn at its n: 99.8% low, 95% low, 95% high, 99.8% high
			CY     float64 `json:"cy"`
		} `json:"points"`
		Curves []string `json:"curves"` // classes of the limit curves
		Bars   []struct {
			ODS   string  `json:"ods"`
			Value float64 `json:"value"`
		} `json:"bars"`
		Rows []struct {
			ODS  string `json:"ods"`
			Band string `json:"band"`
			Raw  string `json:"raw"`
		} `json:"rows"`
		RunLast string `json:"runLast"` // the ICB run chart's last point's tooltip
		RunN    int    `json:"runN"`
	} `json:"measures"`
	Special []struct {
		ODS     string `json:"ods"`
		Measure string `json:"measure"`
		Class   string `json:"class"`
	} `json:"special"`
}

const readICBPage = `(() => {
	const text = e => e ? e.textContent.trim() : "";
	return {
		summary: text(document.querySelector('#icb-summary')),
		measures: [...document.querySelectorAll('section.icb-measure')].map(s => {
			const funnel = s.querySelector('svg.funnel-chart'), run = s.querySelector('svg.spc-chart');
			const pts = run ? [...run.querySelectorAll('circle')] : [];
			return {
				id: s.dataset.measure, icbValue: s.dataset.icbValue, shown: text(s.querySelector('[data-field="icb-value"]')),
				funnelP: funnel ? funnel.dataset.p : "",
				points: funnel ? [...funnel.querySelectorAll('circle.practice')].map(c => ({ods: c.dataset.ods, n: +c.dataset.n, p: +c.dataset.p,
					band: c.dataset.band, side: c.dataset.side, fill: c.getAttribute('fill'), limits: c.dataset.limits, cy: +c.getAttribute('cy')})) : [],
				curves: funnel ? [...funnel.querySelectorAll('polyline')].map(p => p.getAttribute('class')) : [],
				bars: [...s.querySelectorAll('svg.ranked-chart rect.bar')].map(r => ({ods: r.dataset.ods, value: +r.dataset.value})),
				rows: [...s.querySelectorAll('table.icb-table tbody tr')].map(r => ({ods: r.dataset.ods, band: r.dataset.band, raw: r.dataset.raw})),
				runLast: pts.length ? text(pts[pts.length - 1].querySelector('title')) : "", runN: pts.length,
			};
		}),
		special: [...document.querySelectorAll('#special tbody tr')].map(r => ({ods: r.dataset.ods, measure: r.dataset.measure, class: r.dataset.class})),
	};
})()`

// TestICBView: the ICB view compares every practice of the analyst's ICB
// on one chart per measure, with figures and limits computed here by hand
// from the store: the funnel's centre is the sum of numerators over the
// sum of denominators, each practice's band follows p ± z·sqrt(p(1−p)/n)
// for z = 1.96 and 3.09; counts are ranked per 1,000 adults; the ICB's
// run chart ends on the same figure; the special causes are the planted
// ones; the PCN filter keeps one network's practices.
func TestICBView(t *testing.T) {
	f, b := setup(t)
	b.signIn(analyst, password)
	if resp := b.open("/icb"); resp.Status != http.StatusOK {
		t.Fatalf("GET /icb: %d", resp.Status)
	}
	page := eval[icbPage](b, "read the ICB view", readICBPage)
	b.screenshot(t, "icb-view")
	latest := map[string]map[string][3]float64{} // ods -> measure -> numerator, denominator, value
	asOf := ""
	for _, ods := range []string{odsLong, odsShort} {
		sub := f.latest(t, ods)
		asOf = max(asOf, sub.AsOf)
		latest[ods] = map[string][3]float64{}
		for _, m := range sub.Measures {
			var v [3]float64
			for i, p := range []*float64{m.Numerator, m.Denominator, m.Value} {
				if p != nil {
					v[i] = *p
				}
			}
			latest[ods][m.MeasureID] = v
		}
	}
	if !strings.Contains(page.Summary, "2 practices; figures as of "+web.Month(asOf)) {
		t.Errorf("summary %q", page.Summary)
	}
	if len(page.Measures) != len(web.ICBMeasures) {
		t.Fatalf("%d measures, want %d", len(page.Measures), len(web.ICBMeasures))
	}
	for i, m := range page.Measures {
		cm := web.ICBMeasures[i]
		if m.ID != cm.ID {
			t.Fatalf("measure %d is %s, want %s", i, m.ID, cm.ID)
		}
		var icb float64
		switch {
		case cm.Kind == "ratio" && cm.Per == 0: // a proportion: the funnel
			var num, den float64
			for _, ods := range []string{odsLong, odsShort} {
				num, den = num+latest[ods][cm.ID][0], den+latest[ods][cm.ID][1]
			}
			p := num / den
			icb = p
			if got := atof(t, m.FunnelP); math.Abs(got-p) > 1e-12 {
				t.Errorf("%s: funnel centre %v, want %v/%v = %v", cm.ID, got, num, den, p)
			}
			if len(m.Points) != 2 || len(m.Curves) != 4 {
				t.Fatalf("%s: %d points and curves %v, want 2 and the 95%% and 99.8%% limits each side", cm.ID, len(m.Points), m.Curves)
			}
			for _, pt := range m.Points {
				n, x := latest[pt.ODS][cm.ID][1], latest[pt.ODS][cm.ID][0]/latest[pt.ODS][cm.ID][1]
				se := math.Sqrt(p * (1 - p) / n)
				band, side := "inside", ""
				switch {
				case x > p+3.09*se:
					band, side = "99.8", "high"
				case x < p-3.09*se:
					band, side = "99.8", "low"
				case x > p+1.96*se:
					band, side = "95", "high"
				case x < p-1.96*se:
					band, side = "95", "low"
				}
				if pt.N != n || math.Abs(pt.P-x) > 1e-12 || pt.Band != band || pt.Side != side {
					t.Errorf("%s %s: drawn at n %v, p %v, band %s %s; by hand n %v, p %v, limits %.4f..%.4f (95%%) %.4f..%.4f (99.8%%): %s %s",
						cm.ID, pt.ODS, pt.N, pt.P, pt.Band, pt.Side, n, x, p-1.96*se, p+1.96*se, p-3.09*se, p+3.09*se, band, side)
				}
				// The limits drawn at the practice's n are those worked by hand.
				var lims [4]float64
				for k, s := range strings.Fields(pt.Limits) {
					lims[k] = atof(t, s)
				}
				for k, want := range [4]float64{math.Max(0, p-3.09*se), math.Max(0, p-1.96*se), math.Min(1, p+1.96*se), math.Min(1, p+3.09*se)} {
					if math.Abs(lims[k]-want) > 1e-12 {
						t.Errorf("%s %s: limit %d drawn at %v, by hand %v", cm.ID, pt.ODS, k, lims[k], want)
					}
				}
				t.Logf("%s %s: %v of %v = %.4f, ICB %.4f, limits %.4f..%.4f (95%%), %.4f..%.4f (99.8%%): %s %s", cm.ID, pt.ODS, latest[pt.ODS][cm.ID][0], n, x, p,
					lims[1], lims[2], lims[0], lims[3], band, side)
			}
			for _, r := range m.Rows {
				found := false
				for _, pt := range m.Points {
					if pt.ODS == r.ODS {
						found = pt.Band == r.Band
					}
				}
				if !found {
					t.Errorf("%s: table row %s band %q differs from the chart", cm.ID, r.ODS, r.Band)
				}
			}
		default: // ranked rates per 1,000 adults
			var num, den float64
			want := map[string]float64{}
			for _, ods := range []string{odsLong, odsShort} {
				v := latest[ods]
				if cm.Kind == "count" {
					num, den = num+v[cm.ID][2], den+v["eligible_adults"][2]
					want[ods] = v[cm.ID][2] / v["eligible_adults"][2] * 1000
				} else {
					num, den = num+v[cm.ID][0], den+v[cm.ID][1]
					want[ods] = v[cm.ID][0] / v[cm.ID][1] * 1000
				}
			}
			icb = num / den * 1000
			if len(m.Bars) != 2 || m.Bars[0].Value < m.Bars[1].Value {
				t.Errorf("%s: bars %+v, want 2 ranked highest first", cm.ID, m.Bars)
			}
			for _, bar := range m.Bars {
				if math.Abs(bar.Value-want[bar.ODS]) > 1e-9 {
					t.Errorf("%s %s: bar %v, by hand %v per 1,000", cm.ID, bar.ODS, bar.Value, want[bar.ODS])
				}
			}
		}
		if got := atof(t, m.ICBValue); math.Abs(got-icb) > 1e-9 {
			t.Errorf("%s: ICB figure %v, by hand %v", cm.ID, got, icb)
		}
		// The ICB's run chart ends on the same figure, in the latest month.
		label, value, _ := parseTip(m.RunLast)
		if label != web.Month(asOf) || !shows(value, icb) {
			t.Errorf("%s: the ICB run chart ends %q, want %s: %v", cm.ID, m.RunLast, web.Month(asOf), icb)
		}
		if m.RunN != len(seedFor(odsLong).months) {
			t.Errorf("%s: ICB run chart of %d months, want %d", cm.ID, m.RunN, len(seedFor(odsLong).months))
		}
	}
	// Special causes: the planted shift and trend of the long series end
	// in the latest month; the short series has no limits.
	var special []string
	for _, s := range page.Special {
		special = append(special, s.ODS+" "+s.Measure+" "+s.Class)
	}
	slices.Sort(special)
	want := []string{odsLong + " long_term " + string(spc.Improvement), odsLong + " long_term_reviewed " + string(spc.Improvement)}
	if !slices.Equal(special, want) {
		t.Errorf("special causes %v, want %v", special, want)
	}

	// One PCN: only its practice.
	b.open("/icb?pcn=" + url.QueryEscape("Uplands PCN"))
	page = eval[icbPage](b, "read the ICB view for a PCN", readICBPage)
	for _, m := range page.Measures {
		for _, r := range m.Rows {
			if r.ODS != odsShort {
				t.Errorf("PCN filter: %s shows %s", m.ID, r.ODS)
			}
		}
	}
	if len(page.Special) != 0 || !strings.HasPrefix(page.Summary, "1 practices") {
		t.Errorf("PCN filter: summary %q, %d special causes", page.Summary, len(page.Special))
	}
	if resp := b.open("/icb?pcn=Nowhere"); resp.Status != http.StatusBadRequest {
		t.Errorf("an unknown PCN: %d", resp.Status)
	}
}

func atof(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q is not a number: %v", s, err)
	}
	return v
}
