package chart

import (
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/reporting/spc"
)

type svgDoc struct {
	Lines   []svgLine   `xml:"line"`
	Circles []svgCircle `xml:"circle"`
}

type svgLine struct {
	Class string `xml:"class,attr"`
	Y1    string `xml:"y1,attr"`
	Y2    string `xml:"y2,attr"`
}

type svgCircle struct {
	Class string `xml:"class,attr"`
	CY    string `xml:"cy,attr"`
	Fill  string `xml:"fill,attr"`
}

func atof(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSVG draws 20 points alternating 10 and 12 (mean 11, mean moving range
// 2, upper limit 16.32) then 20, a rule-1 breach that is a concern when
// lower is better.
func TestSVG(t *testing.T) {
	var pts []spc.Point
	for i := range 20 {
		pts = append(pts, spc.Point{Label: fmt.Sprintf("2024-%02d", i+1), Value: float64(10 + 2*(i%2))})
	}
	pts = append(pts, spc.Point{Label: "latest <x>", Value: 20})
	c, err := spc.Analyse(pts, spc.Options{Improvement: spc.LowerIsBetter})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Limits || c.Points[20].Rules&spc.RuleOutsideLimits == 0 || c.Points[20].Class != spc.Concern {
		t.Fatalf("spc did not flag the last point as a rule-1 concern: %+v", c.Points[20])
	}
	out := string(SVG(c, "Long-term <opioids>"))
	if strings.Contains(out, "<x>") || strings.Contains(out, "<opioids>") {
		t.Fatal("labels are not escaped")
	}
	var doc svgDoc
	if err := xml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not well-formed SVG: %v\n%s", err, out)
	}
	if len(doc.Circles) != len(pts) {
		t.Fatalf("%d circles, want %d", len(doc.Circles), len(pts))
	}
	// The mean line sits at the y of 11: by the scale, and half-way
	// between the circles at 10 and 12.
	var mean *svgLine
	limits := 0
	for i, l := range doc.Lines {
		switch {
		case l.Class == "mean":
			mean = &doc.Lines[i]
		case strings.HasPrefix(l.Class, "limit"):
			limits++
		}
	}
	if mean == nil {
		t.Fatal("no mean line")
	}
	y := atof(t, mean.Y1)
	if y != atof(t, mean.Y2) {
		t.Fatalf("mean line is not horizontal: %s %s", mean.Y1, mean.Y2)
	}
	if want := NewScale(c).Y(11); math.Abs(y-want) > 0.01 {
		t.Fatalf("mean line at y=%v, want %v", y, want)
	}
	if mid := (atof(t, doc.Circles[0].CY) + atof(t, doc.Circles[1].CY)) / 2; math.Abs(y-mid) > 0.02 {
		t.Fatalf("mean line at y=%v, not half-way between 10 and 12 (%v)", y, mid)
	}
	if limits != 2 {
		t.Fatalf("%d limit lines, want 2", limits)
	}
	last := doc.Circles[20]
	if last.Fill != ColourConcern || !strings.Contains(last.Class, "concern") {
		t.Fatalf("rule-1 breach drawn as %+v, want fill %s", last, ColourConcern)
	}
	for i, c := range doc.Circles[:20] {
		if c.Fill != ColourCommon {
			t.Fatalf("point %d fill %s, want common cause %s", i, c.Fill, ColourCommon)
		}
	}
	if !strings.Contains(out, VariationLabel(spc.VariationConcernHigh)) {
		t.Fatal("no variation label")
	}
	// Improvement is blue when higher is better.
	c, _ = spc.Analyse(pts, spc.Options{Improvement: spc.HigherIsBetter})
	if err := xml.Unmarshal([]byte(SVG(c, "t")), &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Circles[len(doc.Circles)-1].Fill; got != ColourImprovement {
		t.Fatalf("improvement fill %s, want %s", got, ColourImprovement)
	}
}

// TestRunChart: too few points for limits: a mean line and no limits.
func TestRunChart(t *testing.T) {
	c, err := spc.Analyse([]spc.Point{{Label: "a", Value: 1}, {Label: "b", Value: 3}}, spc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := string(SVG(c, "t"))
	if strings.Count(out, "<circle") != 2 || strings.Contains(out, `class="limit`) || !strings.Contains(out, `class="mean"`) {
		t.Fatalf("run chart:\n%s", out)
	}
	// One point and none do not panic.
	c, _ = spc.Analyse([]spc.Point{{Label: "a", Value: 5}}, spc.Options{})
	_ = SVG(c, "one")
	_ = SVG(spc.Chart{}, "none")
}

// Numbers on the chart are never in e-notation: OME per 1,000 runs to tens
// of thousands with decimals.
func TestNumNeverENotation(t *testing.T) {
	for v, want := range map[float64]string{
		42: "42", 0.7429: "0.7429", 13370.6: "13371", 11923.08: "11923", 1234.6: "1235", 999.94: "999.9",
		-0.35: "-0.35", 0.00004: "0.0000", 1e7 + 0.7: "10000001",
	} {
		if got := num(v); got != want || strings.ContainsAny(got, "eE") {
			t.Errorf("num(%v) = %q, want %q", v, got, want)
		}
	}
}
