package chart

import (
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/reporting/spc"
)

// Ticks are 1, 2 or 5 x 10^n apart and cover the data: the odd ticks of
// issue #19 (58.15, 56.5, 54.85) become 54, 55, ... 59.
func TestTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   []float64
	}{
		{54.85, 58.15, []float64{54, 55, 56, 57, 58, 59}},
		{0, 52.64, []float64{0, 10, 20, 30, 40, 50, 60}},
		{0, 0.7429, []float64{0, 0.2, 0.4, 0.6, 0.8}},
		{0, 12800, []float64{0, 5000, 10000, 15000}},
		{3.68, 16.32, []float64{0, 5, 10, 15, 20}},
		{7, 7, []float64{6, 6.5, 7, 7.5, 8}},
		{0.1, 0.3, []float64{0.1, 0.15, 0.2, 0.25, 0.3}},
		{-12, 31, []float64{-20, -10, 0, 10, 20, 30, 40}},
		{0, 1, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
	} {
		if got := Ticks(c.lo, c.hi, MaxTickIntervals); !slices.Equal(got, c.want) {
			t.Errorf("Ticks(%v, %v) = %v, want %v", c.lo, c.hi, got, c.want)
		}
	}
	for raw, want := range map[float64]float64{0.55: 1, 8.77: 10, 2133: 5000, 0.1238: 0.2, 2: 2, 1: 1, 0.03: 0.05, 7: 10} {
		if got := NiceStep(raw); got != want {
			t.Errorf("NiceStep(%v) = %v, want %v", raw, got, want)
		}
	}
}

func TestTickLabel(t *testing.T) {
	for _, c := range []struct {
		v, step float64
		percent bool
		want    string
	}{
		{0.2, 0.2, true, "20%"}, {0.15, 0.05, true, "15%"}, {0.125, 0.025, true, "12.5%"},
		{10000, 5000, false, "10,000"}, {6.5, 0.5, false, "6.5"}, {6, 0.5, false, "6.0"}, {0, 10, false, "0"},
	} {
		if got := TickLabel(c.v, c.step, c.percent); got != c.want {
			t.Errorf("TickLabel(%v, %v, %v) = %q, want %q", c.v, c.step, c.percent, got, c.want)
		}
	}
	for n, want := range map[int]int{1: 1, 27: 1, 36: 1, 37: 2, 72: 2, 100: 3, 200: 6, 400: 12} {
		if got := LabelEvery(n); got != want {
			t.Errorf("LabelEvery(%d) = %d, want %d", n, got, want)
		}
	}
}

type drawn struct {
	Lines []struct {
		Class string `xml:"class,attr"`
		Y1    string `xml:"y1,attr"`
		Title string `xml:"title"`
	} `xml:"line"`
	Texts []struct {
		Class string `xml:"class,attr"`
		Text  string `xml:",chardata"`
	} `xml:"text"`
	Groups []struct {
		G struct {
			Class     string `xml:"class,attr"`
			Variation string `xml:"data-variation,attr"`
			Assurance string `xml:"data-assurance,attr"`
			Text      string `xml:"text"`
			Title     string `xml:"title"`
		} `xml:"g"`
	} `xml:"g"`
	ViewBox string `xml:"viewBox,attr"`
	Width   string `xml:"width,attr"`
	Desc    string `xml:"desc"`
}

func texts(d drawn, class string) []string {
	var out []string
	for _, t := range d.Texts {
		if t.Class == class {
			out = append(out, t.Text)
		}
	}
	return out
}

// A count whose lower limit falls below zero: the axis starts at zero and
// the limit is drawn and labelled at zero, never −1.1; every month is
// labelled; the axis has its title; the lines are labelled; the target is
// drawn; the icons follow Making Data Count.
func TestDrawCounts(t *testing.T) {
	var pts []spc.Point
	for i := range 24 {
		pts = append(pts, spc.Point{Label: fmt.Sprintf("2024-%02d", i%12+1), Value: float64(1 + 3*(i%2))})
	}
	target := 2.0
	c, err := spc.Analyse(pts, spc.Options{Improvement: spc.LowerIsBetter, Target: &target})
	if err != nil {
		t.Fatal(err)
	}
	if c.Partitions[0].LowerLimit >= 0 {
		t.Fatalf("the test wants a negative lower limit, spc gives %v", c.Partitions[0].LowerLimit)
	}
	o := Options{Title: "High-dose users", YTitle: "Patients", Zero: true, Target: &target,
		Label: func(s string) string { return "month " + s }, Short: func(s string) string { return "m" + s },
		Format: func(v float64) string { return fmt.Sprintf("%.1f patients", v) }}
	s := NewScaleFor(c, o)
	if want := []float64{0, 2, 4, 6, 8, 10, 12}; !slices.Equal(s.Ticks, want) {
		t.Errorf("ticks %v, want %v (mean 2.5, upper limit %.2f)", s.Ticks, want, c.Partitions[0].UpperLimit)
	}
	var d drawn
	if err := xml.Unmarshal([]byte(Draw(c, o)), &d); err != nil {
		t.Fatal(err)
	}
	if d.ViewBox != fmt.Sprintf("0 0 %d %d", Width, Height) || d.Width != "100%" {
		t.Errorf("viewBox %q width %q: want responsive", d.ViewBox, d.Width)
	}
	if got, want := texts(d, "tick y"), []string{"0", "2", "4", "6", "8", "10", "12"}; !slices.Equal(got, want) {
		t.Errorf("y tick labels %v, want %v", got, want)
	}
	if got := texts(d, "tick x"); len(got) != 24 || got[0] != "m2024-01" || got[23] != "m2024-12" {
		t.Errorf("month labels %v: want all 24", got)
	}
	if got := texts(d, "axis-title y"); !slices.Equal(got, []string{"Patients"}) {
		t.Errorf("y axis title %v", got)
	}
	labels := strings.Join(texts(d, "line-label"), "|")
	for _, want := range []string{"Mean 2.5", "Lower limit 0", "Upper limit ", "Target 2"} {
		if !strings.Contains(labels, want) {
			t.Errorf("line labels %q lack %q", labels, want)
		}
	}
	for _, l := range d.Lines {
		if l.Class == "limit lower" && (l.Y1 != f(s.Y(0)) || l.Title != "process limit 0.0 patients") {
			t.Errorf("lower limit at y %s titled %q, want at zero (y %s)", l.Y1, l.Title, f(s.Y(0)))
		}
	}
	if !slices.ContainsFunc(d.Lines, func(l struct {
		Class string `xml:"class,attr"`
		Y1    string `xml:"y1,attr"`
		Title string `xml:"title"`
	}) bool {
		return l.Class == "target" && l.Y1 == f(s.Y(2))
	}) {
		t.Error("no target line at 2")
	}
	var icons []string
	for _, g := range d.Groups {
		icons = append(icons, g.G.Class+"="+g.G.Variation+g.G.Assurance+":"+g.G.Text)
	}
	if want := []string{"icon variation=common_cause:", "icon assurance=hit_and_miss:?"}; !slices.Equal(icons, want) {
		t.Errorf("icons %v, want %v", icons, want)
	}
	for _, want := range []string{"24 months from month 2024-01 to month 2024-12", "latest 4.0 patients", "Lower limit", "Target 2.0 patients", "Common cause variation"} {
		if !strings.Contains(d.Desc, strings.Replace(want, "Lower limit", "Process limits 0.0 patients", 1)) {
			t.Errorf("text alternative %q lacks %q", d.Desc, want)
		}
	}
}

// Proportions read as percentages and never pass 100%.
func TestDrawPercent(t *testing.T) {
	var pts []spc.Point
	for i := range 20 {
		pts = append(pts, spc.Point{Label: fmt.Sprint(i), Value: 0.8 + 0.15*float64(i%2)})
	}
	pts = append(pts, spc.Point{Label: "x", Value: 0.2})
	c, _ := spc.Analyse(pts, spc.Options{Improvement: spc.HigherIsBetter})
	o := Options{Title: "Reviewed", Percent: true, Zero: true}
	var d drawn
	if err := xml.Unmarshal([]byte(Draw(c, o)), &d); err != nil {
		t.Fatal(err)
	}
	if got, want := texts(d, "tick y"), []string{"0%", "20%", "40%", "60%", "80%", "100%"}; !slices.Equal(got, want) {
		t.Errorf("ticks %v, want %v", got, want)
	}
	if !strings.Contains(strings.Join(texts(d, "line-label"), "|"), "Upper limit 100.0%") {
		t.Errorf("upper limit not clipped at 100%%: %v", texts(d, "line-label"))
	}
	var icon string
	for _, g := range d.Groups {
		if g.G.Variation != "" {
			icon = g.G.Variation + ":" + g.G.Text
		}
	}
	if icon != "special_cause_concern_low:L" {
		t.Errorf("variation icon %q, want an orange L (concern, low)", icon)
	}
}

func TestIcons(t *testing.T) {
	for v, want := range map[spc.Variation]string{
		spc.VariationImprovementHigh: ColourImprovement + ">H<", spc.VariationImprovementLow: ColourImprovement + ">L<",
		spc.VariationConcernHigh: ColourConcern + ">H<", spc.VariationNeutralLow: ColourNeutral + ">L<",
	} {
		if got := VariationIcon(v); !strings.Contains(got, `fill="`+strings.Replace(want, ">", `">`, 1)) {
			t.Errorf("VariationIcon(%s) = %s, want %s", v, got, want)
		}
	}
	for a, want := range map[spc.Assurance]string{
		spc.AssuranceConsistentlyPass: ColourImprovement + ">P<", spc.AssuranceConsistentlyFail: ColourConcern + ">F<", spc.AssuranceHitAndMiss: ColourCommon + ">?<",
	} {
		if got := AssuranceIcon(a); !strings.Contains(got, `fill="`+strings.Replace(want, ">", `">`, 1)) {
			t.Errorf("AssuranceIcon(%s) = %s, want %s", a, got, want)
		}
	}
}
