// Package chart draws an spc.Chart as an inline SVG XmR run chart for the
// collector's pages: no scripts, no external resources. Points are coloured
// as in Making Data Count: grey for common cause, blue for special-cause
// improvement, orange for special-cause concern, purple for special cause
// with no improvement direction.
package chart

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"

	"github.com/nhs-steward/steward/reporting/spc"
)

// Colours (Making Data Count palette).
const (
	ColourCommon      = "#7b7d7d"
	ColourImprovement = "#289de0"
	ColourConcern     = "#fab428"
	ColourNeutral     = "#490092"
	ColourLine        = "#212b32"
	ColourLimit       = "#768692"
)

// Geometry of the drawing, in SVG user units.
const (
	Width        = 640
	Height       = 240
	MarginLeft   = 56
	MarginRight  = 12
	MarginTop    = 12
	MarginBottom = 36
)

// Colour returns the fill colour of a point of class c.
func Colour(c spc.Class) string {
	switch c {
	case spc.Improvement:
		return ColourImprovement
	case spc.Concern:
		return ColourConcern
	case spc.Neutral:
		return ColourNeutral
	}
	return ColourCommon
}

// VariationLabel is the variation icon as text.
func VariationLabel(v spc.Variation) string {
	switch v {
	case spc.VariationCommonCause:
		return "Common cause variation"
	case spc.VariationImprovementHigh:
		return "Special cause improvement (high)"
	case spc.VariationImprovementLow:
		return "Special cause improvement (low)"
	case spc.VariationConcernHigh:
		return "Special cause concern (high)"
	case spc.VariationConcernLow:
		return "Special cause concern (low)"
	case spc.VariationNeutralHigh:
		return "Special cause variation (high)"
	case spc.VariationNeutralLow:
		return "Special cause variation (low)"
	}
	return "No limits: run chart"
}

// Scale maps values and point indexes to SVG coordinates.
type Scale struct {
	N      int     // number of points
	Lo, Hi float64 // value domain, bottom to top
}

// NewScale covers every point and line of c, padded by 5% each side.
func NewScale(c spc.Chart) Scale {
	lo, hi := math.Inf(1), math.Inf(-1)
	see := func(v float64) { lo, hi = math.Min(lo, v), math.Max(hi, v) }
	for _, p := range c.Points {
		see(p.Value)
	}
	for _, p := range c.Partitions {
		see(p.Mean)
		if c.Limits {
			see(p.UpperLimit)
			see(p.LowerLimit)
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	}
	if hi-lo < 1e-9 {
		pad := math.Max(math.Abs(hi)*0.1, 1)
		lo, hi = lo-pad, hi+pad
	}
	pad := (hi - lo) * 0.05
	return Scale{N: len(c.Points), Lo: lo - pad, Hi: hi + pad}
}

// X is the x coordinate of point i.
func (s Scale) X(i int) float64 {
	w := float64(Width - MarginLeft - MarginRight)
	if s.N <= 1 {
		return MarginLeft + w/2
	}
	return MarginLeft + w*float64(i)/float64(s.N-1)
}

// Y is the y coordinate of value v.
func (s Scale) Y(v float64) float64 {
	h := float64(Height - MarginTop - MarginBottom)
	return MarginTop + h*(s.Hi-v)/(s.Hi-s.Lo)
}

func f(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// num formats a value for an axis or tooltip label.
func num(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e15, math.Abs(v) >= 1000:
		// Whole numbers, and large values to the unit: never e-notation,
		// which would also run off the left of the chart.
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) < 0.001:
		return strconv.FormatFloat(v, 'f', 4, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// SVG draws c as an inline SVG element titled title. Every text is
// escaped, so the result is safe to put in a page.
func SVG(c spc.Chart, title string) template.HTML {
	s := NewScale(c)
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="spc-chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		Width, Height, Width, Height, esc(title+": "+VariationLabel(c.Variation)))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(title))
	// Axes.
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="1"/>`,
		MarginLeft, MarginTop, MarginLeft, Height-MarginBottom, ColourLimit)
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="1"/>`,
		MarginLeft, Height-MarginBottom, Width-MarginRight, Height-MarginBottom, ColourLimit)
	for _, v := range []float64{s.Lo, (s.Lo + s.Hi) / 2, s.Hi} {
		fmt.Fprintf(&b, `<text x="%d" y="%s" font-size="10" text-anchor="end" dominant-baseline="middle">%s</text>`,
			MarginLeft-4, f(s.Y(v)), esc(num(v)))
	}
	// Centre lines and limits, per partition.
	for _, p := range c.Partitions {
		if p.End <= p.Start {
			continue
		}
		x1, x2 := s.X(p.Start), s.X(p.End-1)
		if p.End-1 == p.Start && s.N > 1 {
			x1, x2 = x1-4, x2+4
		}
		fmt.Fprintf(&b, `<line class="mean" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.5"><title>mean %s</title></line>`,
			f(x1), f(s.Y(p.Mean)), f(x2), f(s.Y(p.Mean)), ColourLine, esc(num(p.Mean)))
		if c.Limits {
			for _, l := range []struct {
				class string
				v     float64
			}{{"limit upper", p.UpperLimit}, {"limit lower", p.LowerLimit}} {
				fmt.Fprintf(&b, `<line class="%s" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1" stroke-dasharray="4 3"><title>process limit %s</title></line>`,
					l.class, f(x1), f(s.Y(l.v)), f(x2), f(s.Y(l.v)), ColourLimit, esc(num(l.v)))
			}
		}
	}
	// The series.
	if len(c.Points) > 1 {
		b.WriteString(`<polyline class="series" fill="none" stroke="` + ColourCommon + `" stroke-width="1" points="`)
		for i, p := range c.Points {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(f(s.X(i)) + "," + f(s.Y(p.Value)))
		}
		b.WriteString(`"/>`)
	}
	for i, p := range c.Points {
		class := string(p.Class)
		if class == "" {
			class = "run"
		}
		tip := p.Label + ": " + num(p.Value)
		if p.Rules != 0 {
			tip += " (" + string(p.Class) + ": " + p.Rules.String() + ")"
		}
		fmt.Fprintf(&b, `<circle class="point %s" cx="%s" cy="%s" r="4" fill="%s"><title>%s</title></circle>`,
			esc(class), f(s.X(i)), f(s.Y(p.Value)), Colour(p.Class), esc(tip))
	}
	// First and last labels on the x axis.
	if n := len(c.Points); n > 0 {
		fmt.Fprintf(&b, `<text x="%s" y="%d" font-size="10" text-anchor="start">%s</text>`, f(s.X(0)), Height-MarginBottom+14, esc(c.Points[0].Label))
		if n > 1 {
			fmt.Fprintf(&b, `<text x="%s" y="%d" font-size="10" text-anchor="end">%s</text>`, f(s.X(n-1)), Height-MarginBottom+14, esc(c.Points[n-1].Label))
		}
	}
	fmt.Fprintf(&b, `<text class="variation" x="%d" y="%d" font-size="11">%s</text>`, MarginLeft, Height-6, esc(VariationLabel(c.Variation)))
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text above is escaped
}
