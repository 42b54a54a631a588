package chart

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"slices"
	"strings"

	"github.com/nhs-steward/steward/reporting/spc"
)

// SVG draws c titled title with no options: a plain axis, values as
// numbers.
func SVG(c spc.Chart, title string) template.HTML { return Draw(c, Options{Title: title}) }

// Draw draws c as an inline SVG XmR chart: nice ticks and gridlines, axis
// titles, every month labelled, the mean, process limits and target
// labelled at their right ends, and the Making Data Count variation and
// assurance icons. It scales to its container (viewBox, width 100%) and
// carries a text alternative (aria-label and desc). Every text is escaped,
// so the result is safe to put in a page.
func Draw(c spc.Chart, o Options) template.HTML {
	s := NewScaleFor(c, o)
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="spc-chart" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="xMinYMin meet" role="img" aria-label="%s">`,
		Width, Height, esc(o.Title+": "+VariationLabel(c.Variation)))
	fmt.Fprintf(&b, `<title>%s</title><desc>%s</desc>`, esc(o.Title), esc(Describe(c, o)))
	plotR, plotB := float64(Width-MarginRight), float64(Height-MarginBottom)

	// Gridlines and value ticks.
	step := 1.0
	if len(s.Ticks) > 1 {
		step = s.Ticks[1] - s.Ticks[0]
	}
	for _, t := range s.Ticks {
		y := s.Y(t)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" y1="%s" x2="%s" y2="%s" stroke="#e8edee" stroke-width="1"/>`, MarginLeft, f(y), f(plotR), f(y))
		fmt.Fprintf(&b, `<text class="tick y" x="%d" y="%s" font-size="12" text-anchor="end" dominant-baseline="middle" fill="#4c6272">%s</text>`,
			MarginLeft-6, f(y), esc(TickLabel(t, step, o.Percent)))
	}
	// Axes.
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%s" stroke="%s" stroke-width="1"/>`, MarginLeft, MarginTop, MarginLeft, f(plotB), ColourLimit)
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1"/>`, MarginLeft, f(plotB), f(plotR), f(plotB), ColourLimit)
	if o.YTitle != "" {
		// Above the axis, level, so that it reads without turning one's head.
		fmt.Fprintf(&b, `<text class="axis-title y" x="8" y="%d" font-size="13" fill="#212b32">%s</text>`, MarginTop-10, esc(o.YTitle))
	}
	xTitle := o.XTitle
	if xTitle == "" {
		xTitle = "Month"
	}
	fmt.Fprintf(&b, `<text class="axis-title x" x="%s" y="%d" font-size="13" text-anchor="middle" fill="#212b32">%s</text>`,
		f((MarginLeft+plotR)/2), Height-8, esc(xTitle))
	// Month ticks: a mark for every month, a label at every Every-th.
	every := LabelEvery(len(c.Points))
	for i, p := range c.Points {
		x := s.X(i)
		fmt.Fprintf(&b, `<line class="tick x" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1"/>`, f(x), f(plotB), f(x), f(plotB+4), ColourLimit)
		if i%every != 0 && i != len(c.Points)-1 {
			continue
		}
		fmt.Fprintf(&b, `<text class="tick x" x="%s" y="%s" font-size="11" text-anchor="end" transform="rotate(-45 %s %s)" fill="#4c6272">%s</text>`,
			f(x), f(plotB+14), f(x), f(plotB+14), esc(o.short(p.Label)))
	}

	// Centre lines and limits, per partition; labels of the last.
	type tag struct {
		y    float64
		text string
		col  string
	}
	var tags []tag
	for k, p := range c.Partitions {
		if p.End <= p.Start {
			continue
		}
		x1, x2 := s.X(p.Start), s.X(p.End-1)
		if p.End-1 == p.Start && s.N > 1 {
			x1, x2 = x1-4, x2+4
		}
		last := k == len(c.Partitions)-1
		fmt.Fprintf(&b, `<line class="mean" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.5"><title>mean %s</title></line>`,
			f(x1), f(s.Y(p.Mean)), f(x2), f(s.Y(p.Mean)), ColourLine, esc(o.format(p.Mean)))
		if last {
			tags = append(tags, tag{s.Y(p.Mean), "Mean " + o.number(p.Mean), ColourLine})
		}
		if c.Limits {
			for _, l := range []struct {
				class, name string
				v           float64
			}{{"limit upper", "Upper limit", p.UpperLimit}, {"limit lower", "Lower limit", p.LowerLimit}} {
				v := clip(l.v, o)
				fmt.Fprintf(&b, `<line class="%s" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.2" stroke-dasharray="6 4"><title>process limit %s</title></line>`,
					l.class, f(x1), f(s.Y(v)), f(x2), f(s.Y(v)), ColourLimit, esc(o.format(v)))
				if last {
					tags = append(tags, tag{s.Y(v), l.name + " " + o.number(v), "#4c6272"})
				}
			}
		}
	}
	if o.Target != nil {
		y := s.Y(*o.Target)
		fmt.Fprintf(&b, `<line class="target" x1="%d" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2" stroke-dasharray="2 3"><title>target %s</title></line>`,
			MarginLeft, f(y), f(plotR), f(y), ColourTarget, esc(o.format(*o.Target)))
		tags = append(tags, tag{y, "Target " + o.number(*o.Target), ColourTarget})
	}
	// Labels at the right, pushed apart so that they never overlap.
	slices.SortFunc(tags, func(a, b tag) int { return int(math.Copysign(1, a.y-b.y)) })
	const gap = 14.0
	for i := 1; i < len(tags); i++ {
		if tags[i].y-tags[i-1].y < gap {
			tags[i].y = tags[i-1].y + gap
		}
	}
	for _, t := range tags {
		fmt.Fprintf(&b, `<text class="line-label" x="%s" y="%s" font-size="11" dominant-baseline="middle" fill="%s">%s</text>`,
			f(plotR+6), f(t.y), t.col, esc(t.text))
	}

	// The series.
	if len(c.Points) > 1 {
		b.WriteString(`<polyline class="series" fill="none" stroke="` + ColourCommon + `" stroke-width="1.5" points="`)
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
		tip := o.label(p.Label) + ": " + o.format(p.Value)
		if p.Rules != 0 {
			tip += " (" + string(p.Class) + ": " + p.Rules.String() + ")"
		}
		fmt.Fprintf(&b, `<circle class="point %s" cx="%s" cy="%s" r="4" fill="%s"><title>%s</title></circle>`,
			esc(class), f(s.X(i)), f(s.Y(p.Value)), Colour(p.Class), esc(tip))
	}
	// The icons, top right, and the variation in words, top left.
	fmt.Fprintf(&b, `<g transform="translate(%d 6)">%s</g>`, Width-98, VariationIcon(c.Variation))
	fmt.Fprintf(&b, `<g transform="translate(%d 6)">%s</g>`, Width-50, AssuranceIcon(c.Assurance))
	fmt.Fprintf(&b, `<text class="variation" x="%d" y="18" font-size="13" fill="#212b32">%s</text>`, MarginLeft, esc(VariationLabel(c.Variation)))
	if c.Assurance != spc.AssuranceNone && c.Assurance != "" {
		fmt.Fprintf(&b, `<text class="assurance" x="%d" y="34" font-size="12" fill="#4c6272">%s</text>`, MarginLeft, esc(AssuranceLabel(c.Assurance)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text above is escaped
}

// ColourTarget is the target line's colour (NHS warm yellow's darker
// neighbour would be too faint on white: NHS dark pink reads clearly).
const ColourTarget = "#7c2855"

// number formats v without its unit for the labels beside the lines: a
// percentage with one decimal, or a number to one decimal with separators
// (none for whole numbers).
func (o Options) number(v float64) string {
	switch {
	case o.Percent:
		return thousands(v*100, 1) + "%"
	case v == math.Trunc(v):
		return thousands(v, 0)
	}
	return thousands(v, 1)
}

// TickLabel formats a tick value: a multiple of step shown with just the
// decimals it needs, with separators; a percentage when percent.
func TickLabel(v, step float64, percent bool) string {
	if percent {
		return thousands(v*100, Decimals(step*100)) + "%"
	}
	return thousands(v, Decimals(step))
}

// LabelEvery is how often the time axis labels a month so that labels do
// not crowd: every month up to 36 points (drawn at an angle), then every
// 2nd, 3rd, 6th or 12th.
func LabelEvery(n int) int {
	for _, k := range []int{1, 2, 3, 6, 12} {
		if (n+k-1)/k <= 36 {
			return k
		}
	}
	return (n + 35) / 36
}

// Describe is the chart's text alternative: what it shows, in words.
func Describe(c spc.Chart, o Options) string {
	n := len(c.Points)
	if n == 0 {
		return o.Title + ": no values."
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d months from %s to %s; latest %s.", o.Title, n, o.label(c.Points[0].Label), o.label(c.Points[n-1].Label), o.format(c.Points[n-1].Value))
	if len(c.Partitions) > 0 {
		p := c.Partitions[len(c.Partitions)-1]
		fmt.Fprintf(&b, " Mean %s.", o.format(p.Mean))
		if c.Limits {
			fmt.Fprintf(&b, " Process limits %s to %s.", o.format(clip(p.LowerLimit, o)), o.format(clip(p.UpperLimit, o)))
		}
	}
	if o.Target != nil {
		fmt.Fprintf(&b, " Target %s.", o.format(*o.Target))
	}
	fmt.Fprintf(&b, " %s.", VariationLabel(c.Variation))
	if c.Assurance != spc.AssuranceNone && c.Assurance != "" {
		fmt.Fprintf(&b, " %s.", AssuranceLabel(c.Assurance))
	}
	return b.String()
}

// AssuranceLabel is the assurance icon as text.
func AssuranceLabel(a spc.Assurance) string {
	switch a {
	case spc.AssuranceConsistentlyPass:
		return "Assurance: consistently passes the target"
	case spc.AssuranceConsistentlyFail:
		return "Assurance: consistently fails the target"
	case spc.AssuranceHitAndMiss:
		return "Assurance: hits and misses the target at random"
	}
	return "No assurance: no target or no process limits"
}

// VariationIcon draws the Making Data Count variation icon as a 40 by 40
// SVG group, by its published conventions: a ring in the class colour
// (grey common cause, blue improvement, orange concern, purple neither)
// with H or L for a special cause above or below the process. Drawn here,
// not copied from NHS artwork.
func VariationIcon(v spc.Variation) string {
	col, letter := ColourCommon, ""
	switch v {
	case spc.VariationImprovementHigh:
		col, letter = ColourImprovement, "H"
	case spc.VariationImprovementLow:
		col, letter = ColourImprovement, "L"
	case spc.VariationConcernHigh:
		col, letter = ColourConcern, "H"
	case spc.VariationConcernLow:
		col, letter = ColourConcern, "L"
	case spc.VariationNeutralHigh:
		col, letter = ColourNeutral, "H"
	case spc.VariationNeutralLow:
		col, letter = ColourNeutral, "L"
	case spc.VariationNone, "":
		col = "#d8dde0"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<g class="icon variation" data-variation="%s"><title>%s</title><ellipse cx="20" cy="20" rx="17" ry="17" fill="#fff" stroke="%s" stroke-width="4"/>`,
		html.EscapeString(string(v)), html.EscapeString(VariationLabel(v)), col)
	if letter != "" {
		fmt.Fprintf(&b, `<text x="20" y="21" font-size="18" font-weight="bold" text-anchor="middle" dominant-baseline="middle" fill="%s">%s</text>`, col, letter)
	} else {
		// Common cause: a flat run of dots.
		fmt.Fprintf(&b, `<path d="M9 20 H31" stroke="%s" stroke-width="2.5" stroke-linecap="round"/>`, col)
	}
	b.WriteString(`</g>`)
	return b.String()
}

// AssuranceIcon draws the Making Data Count assurance icon as a 40 by 40
// SVG group: P in blue when the process consistently passes the target, F
// in orange when it consistently fails, ? in grey when it hits and misses;
// an empty grey ring when there is no target.
func AssuranceIcon(a spc.Assurance) string {
	col, letter := "#d8dde0", ""
	switch a {
	case spc.AssuranceConsistentlyPass:
		col, letter = ColourImprovement, "P"
	case spc.AssuranceConsistentlyFail:
		col, letter = ColourConcern, "F"
	case spc.AssuranceHitAndMiss:
		col, letter = ColourCommon, "?"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<g class="icon assurance" data-assurance="%s"><title>%s</title><ellipse cx="20" cy="20" rx="17" ry="17" fill="#fff" stroke="%s" stroke-width="4"/>`,
		html.EscapeString(string(a)), html.EscapeString(AssuranceLabel(a)), col)
	if letter != "" {
		fmt.Fprintf(&b, `<text x="20" y="21" font-size="18" font-weight="bold" text-anchor="middle" dominant-baseline="middle" fill="%s">%s</text>`, col, letter)
	}
	b.WriteString(`</g>`)
	return b.String()
}

// thousands formats v with decimals places and comma separators.
func thousands(v float64, decimals int) string {
	s := fmt.Sprintf("%.*f", decimals, v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	var out strings.Builder
	for i := range len(whole) {
		if i > 0 && (len(whole)-i)%3 == 0 {
			out.WriteByte(',')
		}
		out.WriteByte(whole[i])
	}
	r := out.String()
	if frac != "" {
		r += "." + frac
	}
	if neg && strings.Trim(r, "0.,") != "" {
		r = "-" + r
	}
	return r
}
