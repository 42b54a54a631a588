// Package chart draws an spc.Chart as an inline SVG XmR run chart for the
// collector's pages: no scripts, no external resources. Points are coloured
// as in Making Data Count: grey for common cause, blue for special-cause
// improvement, orange for special-cause concern, purple for special cause
// with no improvement direction.
package chart

import (
	"math"
	"strconv"

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

// Geometry of the drawing, in SVG user units. The drawing scales to the
// width of its container (viewBox, width 100%).
const (
	Width        = 880
	Height       = 380
	MarginLeft   = 84
	MarginRight  = 170 // the labels of the mean, limits and target
	MarginTop    = 64  // the variation and assurance, and the value axis's title
	MarginBottom = 78  // month labels and the axis title
)

// Options say how to draw a chart for people: its title, axis titles and
// units, how values and labels read, and the target line.
type Options struct {
	Title  string
	YTitle string // the value axis's title with its unit, e.g. "Patients"
	XTitle string // the time axis's title; "" gives "Month"
	// Zero starts the value axis at zero and never draws below it: for
	// counts, sums and rates, which cannot be negative. Lower limits below
	// zero are drawn (and labelled) at zero.
	Zero bool
	// Percent: the values are proportions (0 to 1), shown as percentages;
	// the axis stops at 100%.
	Percent bool
	// Target, when a scheme sets one, is drawn as a line and gives the
	// assurance icon (the spc.Chart must have been analysed with it).
	Target *float64
	// Label formats a point's label (an as-of date) for the axis and
	// tooltips; Short for the axis when there is little room. nil: as is.
	Label, Short func(string) string
	// Format formats a value with its unit for tooltips and labels; nil:
	// a plain number (a percentage when Percent).
	Format func(float64) string
}

func (o Options) label(s string) string {
	if o.Label == nil {
		return s
	}
	return o.Label(s)
}

func (o Options) short(s string) string {
	if o.Short != nil {
		return o.Short(s)
	}
	return o.label(s)
}

func (o Options) format(v float64) string {
	if o.Format != nil {
		return o.Format(v)
	}
	if o.Percent {
		return strconv.FormatFloat(v*100, 'f', 1, 64) + "%"
	}
	return num(v)
}

// MaxTickIntervals bounds the value axis's tick intervals.
const MaxTickIntervals = 6

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
	Lo, Hi float64 // value domain, bottom to top: the first and last ticks
	Ticks  []float64
}

// NewScale is NewScaleFor with no options.
func NewScale(c spc.Chart) Scale { return NewScaleFor(c, Options{}) }

// NewScaleFor covers every point and line of c (and the target) with nice
// ticks: from zero when o.Zero, never past 100% when o.Percent.
func NewScaleFor(c spc.Chart, o Options) Scale {
	lo, hi := math.Inf(1), math.Inf(-1)
	see := func(v float64) { lo, hi = math.Min(lo, v), math.Max(hi, v) }
	for _, p := range c.Points {
		see(p.Value)
	}
	for _, p := range c.Partitions {
		see(p.Mean)
		if c.Limits {
			see(clip(p.UpperLimit, o))
			see(clip(p.LowerLimit, o))
		}
	}
	if o.Target != nil {
		see(*o.Target)
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	}
	if o.Zero && lo > 0 {
		lo = 0
	}
	ticks := Ticks(lo, hi, MaxTickIntervals)
	if o.Zero && ticks[0] < 0 {
		ticks = Ticks(0, hi, MaxTickIntervals)
	}
	return Scale{N: len(c.Points), Lo: ticks[0], Hi: ticks[len(ticks)-1], Ticks: ticks}
}

// clip keeps a limit inside what the measure can be: never below zero
// for counts, never above 100% for proportions.
func clip(v float64, o Options) float64 {
	if (o.Zero || o.Percent) && v < 0 {
		return 0
	}
	if o.Percent && v > 1 {
		return 1
	}
	return v
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
