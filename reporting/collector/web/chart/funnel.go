package chart

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"slices"
	"strings"
)

// Funnel plot z values: 95% and 99.8% two-sided limits of the normal
// approximation to the binomial, as in NHS and PHE funnel plots.
const (
	Z95  = 1.96
	Z998 = 3.09
)

// FunnelLimits returns the binomial limits around a proportion p for a
// denominator n at z: p ± z·sqrt(p(1−p)/n), clipped to [0, 1].
func FunnelLimits(p, n, z float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	se := math.Sqrt(p * (1 - p) / n)
	return math.Max(0, p-z*se), math.Min(1, p+z*se)
}

// FunnelPoint is one practice on a funnel plot.
type FunnelPoint struct {
	ID, Label string  // ODS code, and the name shown in its tooltip
	N         float64 // denominator
	P         float64 // proportion
}

// Band says where a funnel point lies: "inside", "95" (between the 95%
// and 99.8% limits) or "99.8" (beyond the 99.8% limits); high or low.
func Band(pt FunnelPoint, p float64) (band, side string) {
	lo95, hi95 := FunnelLimits(p, pt.N, Z95)
	lo998, hi998 := FunnelLimits(p, pt.N, Z998)
	switch {
	case pt.P > hi998:
		return "99.8", "high"
	case pt.P < lo998:
		return "99.8", "low"
	case pt.P > hi95:
		return "95", "high"
	case pt.P < lo95:
		return "95", "low"
	}
	return "inside", ""
}

// FunnelOptions say how to draw a funnel plot.
type FunnelOptions struct {
	Title, XTitle, YTitle string
	// HigherIsBetter colours points beyond the limits above the centre as
	// improvement (blue) and below as concern (orange); false the other
	// way round.
	HigherIsBetter bool
}

// Funnel draws a funnel plot: each practice's proportion against its
// denominator, the ICB's proportion p as the centre line and the 95% and
// 99.8% binomial limits as curves. Points beyond the 99.8% limits are
// coloured (blue improvement, orange concern), between the limits drawn
// as rings in that colour, inside grey.
func Funnel(pts []FunnelPoint, p float64, o FunnelOptions) template.HTML {
	esc := html.EscapeString
	maxN := 1.0
	lo, hi := p, p
	for _, pt := range pts {
		maxN = math.Max(maxN, pt.N)
		lo, hi = math.Min(lo, pt.P), math.Max(hi, pt.P)
	}
	xt := Ticks(0, maxN, MaxTickIntervals)
	nMin := math.Max(1, xt[len(xt)-1]/200)
	l, h := FunnelLimits(p, nMin*4, Z998)
	lo, hi = math.Min(lo, l), math.Max(hi, h)
	yt := Ticks(math.Max(0, lo), math.Min(1, hi), MaxTickIntervals)
	x0, x1 := float64(MarginLeft), float64(Width-MarginRight)
	y0, y1 := float64(Height-MarginBottom), float64(MarginTop)
	X := func(n float64) float64 { return x0 + (x1-x0)*(n-xt[0])/(xt[len(xt)-1]-xt[0]) }
	Y := func(v float64) float64 {
		v = math.Max(yt[0], math.Min(yt[len(yt)-1], v))
		return y0 - (y0-y1)*(v-yt[0])/(yt[len(yt)-1]-yt[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="funnel-chart" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="xMinYMin meet" role="img" aria-label="%s" data-p="%s">`,
		Width, Height, esc(o.Title), fmt.Sprint(p))
	outside := 0
	for _, pt := range pts {
		if band, _ := Band(pt, p); band != "inside" {
			outside++
		}
	}
	fmt.Fprintf(&b, `<title>%s</title><desc>%s</desc>`, esc(o.Title), esc(fmt.Sprintf("Funnel plot of %d practices: ICB proportion %s; %d outside the 95%% limits.", len(pts), pct(p), outside)))
	ystep := yt[1] - yt[0]
	for _, t := range yt {
		fmt.Fprintf(&b, `<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e8edee"/>`, f(x0), f(Y(t)), f(x1), f(Y(t)))
		fmt.Fprintf(&b, `<text class="tick y" x="%s" y="%s" font-size="12" text-anchor="end" dominant-baseline="middle" fill="#4c6272">%s</text>`, f(x0-6), f(Y(t)), TickLabel(t, ystep, true))
	}
	xstep := xt[1] - xt[0]
	for _, t := range xt {
		fmt.Fprintf(&b, `<text class="tick x" x="%s" y="%s" font-size="12" text-anchor="middle" fill="#4c6272">%s</text>`, f(X(t)), f(y0+18), TickLabel(t, xstep, false))
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/><line class="axis" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`,
		f(x0), f(y1), f(x0), f(y0), ColourLimit, f(x0), f(y0), f(x1), f(y0), ColourLimit)
	fmt.Fprintf(&b, `<text class="axis-title y" x="8" y="%d" font-size="13" fill="#212b32">%s</text>`, MarginTop-10, esc(o.YTitle))
	fmt.Fprintf(&b, `<text class="axis-title x" x="%s" y="%d" font-size="13" text-anchor="middle" fill="#212b32">%s</text>`, f((x0+x1)/2), Height-8, esc(o.XTitle))
	// Centre and limits.
	fmt.Fprintf(&b, `<line class="centre" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.5"><title>ICB %s</title></line>`, f(x0), f(Y(p)), f(x1), f(Y(p)), ColourLine, pct(p))
	fmt.Fprintf(&b, `<text class="line-label" x="%s" y="%s" font-size="11" dominant-baseline="middle">ICB %s</text>`, f(x1+6), f(Y(p)), pct(p))
	for _, lim := range []struct {
		class string
		z     float64
		dash  string
	}{{"limit-95", Z95, "6 4"}, {"limit-998", Z998, "2 3"}} {
		for side := range 2 {
			var pts []string
			for i := 0; i <= 200; i++ {
				n := nMin + (xt[len(xt)-1]-nMin)*float64(i)/200
				lo, hi := FunnelLimits(p, n, lim.z)
				v := lo
				if side == 1 {
					v = hi
				}
				pts = append(pts, f(X(n))+","+f(Y(v)))
			}
			s := []string{"low", "high"}[side]
			fmt.Fprintf(&b, `<polyline class="%s %s" fill="none" stroke="%s" stroke-width="1.2" stroke-dasharray="%s" points="%s"/>`, lim.class, s, ColourLimit, lim.dash, strings.Join(pts, " "))
		}
		_, hi := FunnelLimits(p, xt[len(xt)-1], lim.z)
		name := map[float64]string{Z95: "95% limits", Z998: "99.8% limits"}[lim.z]
		fmt.Fprintf(&b, `<text class="line-label" x="%s" y="%s" font-size="11" dominant-baseline="middle" fill="#4c6272">%s</text>`, f(x1+6), f(Y(hi)-14*boolF(lim.z == Z998)), name)
	}
	// Points: largest first so that small ones stay visible.
	order := slices.Clone(pts)
	slices.SortStableFunc(order, func(a, b FunnelPoint) int { return int(math.Copysign(1, b.N-a.N)) })
	for _, pt := range order {
		band, side := Band(pt, p)
		col := ColourCommon
		if band != "inside" {
			good := (side == "high") == o.HigherIsBetter
			col = ColourConcern
			if good {
				col = ColourImprovement
			}
		}
		fill := col
		if band == "95" {
			fill = "#fff"
		}
		lo95, hi95 := FunnelLimits(p, pt.N, Z95)
		lo998, hi998 := FunnelLimits(p, pt.N, Z998)
		fmt.Fprintf(&b, `<circle class="practice band-%s" data-ods="%s" data-n="%s" data-p="%s" data-band="%s" data-side="%s" data-limits="%s %s %s %s" cx="%s" cy="%s" r="5" fill="%s" stroke="%s" stroke-width="2"><title>%s</title></circle>`,
			strings.ReplaceAll(band, ".", ""), esc(pt.ID), fmt.Sprint(pt.N), fmt.Sprint(pt.P), band, side,
			fmt.Sprint(lo998), fmt.Sprint(lo95), fmt.Sprint(hi95), fmt.Sprint(hi998), f(X(pt.N)), f(Y(pt.P)), fill, col,
			esc(fmt.Sprintf("%s: %s of %s", pt.Label, pct(pt.P), thousands(pt.N, 0))))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text is escaped
}

func boolF(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func pct(p float64) string { return thousands(p*100, 1) + "%" }

// RankedItem is one practice of a ranked bar chart.
type RankedItem struct {
	ID, Label string
	Value     float64
	Text      string // the value as shown, with its unit
}

// Ranked draws the items as horizontal bars, highest first, with the ICB
// figure as a line: for rates per 1,000 adults, which have no funnel.
func Ranked(items []RankedItem, icb float64, title, axis string) template.HTML {
	esc := html.EscapeString
	items = slices.Clone(items)
	slices.SortStableFunc(items, func(a, b RankedItem) int { return int(math.Copysign(1, b.Value-a.Value)) })
	maxV := icb
	for _, it := range items {
		maxV = math.Max(maxV, it.Value)
	}
	xt := Ticks(0, maxV, MaxTickIntervals)
	const rowH, labelW, top = 22, 260, 40
	w, h := Width, top+rowH*len(items)+48
	x0, x1 := float64(labelW), float64(w-40)
	X := func(v float64) float64 { return x0 + (x1-x0)*v/xt[len(xt)-1] }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="ranked-chart" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="xMinYMin meet" role="img" aria-label="%s">`, w, h, esc(title))
	fmt.Fprintf(&b, `<title>%s</title><desc>%s</desc>`, esc(title), esc(fmt.Sprintf("%d practices ranked, highest first; ICB %s.", len(items), thousands(icb, 1))))
	step := xt[1] - xt[0]
	for _, t := range xt {
		fmt.Fprintf(&b, `<line class="grid" x1="%s" y1="%d" x2="%s" y2="%d" stroke="#e8edee"/><text class="tick x" x="%s" y="%d" font-size="12" text-anchor="middle" fill="#4c6272">%s</text>`,
			f(X(t)), top-6, f(X(t)), h-40, f(X(t)), h-24, TickLabel(t, step, false))
	}
	fmt.Fprintf(&b, `<text class="axis-title x" x="%s" y="%d" font-size="13" text-anchor="middle">%s</text>`, f((x0+x1)/2), h-6, esc(axis))
	for i, it := range items {
		y := top + i*rowH
		fmt.Fprintf(&b, `<text class="bar-label" x="%s" y="%d" font-size="12" text-anchor="end" dominant-baseline="middle">%s</text>`, f(x0-8), y+rowH/2, esc(truncate(it.Label, 38)))
		fmt.Fprintf(&b, `<rect class="bar" data-ods="%s" data-value="%s" x="%s" y="%d" width="%s" height="%d" fill="#005eb8"><title>%s</title></rect>`,
			esc(it.ID), fmt.Sprint(it.Value), f(x0), y+3, f(X(it.Value)-x0), rowH-6, esc(it.Label+": "+it.Text))
	}
	fmt.Fprintf(&b, `<line class="centre" x1="%s" y1="%d" x2="%s" y2="%d" stroke="%s" stroke-width="2"><title>ICB %s</title></line>`, f(X(icb)), top-6, f(X(icb)), h-40, ColourTarget, thousands(icb, 1))
	fmt.Fprintf(&b, `<text class="line-label" x="%s" y="%d" font-size="11" text-anchor="middle" fill="%s">ICB %s</text>`, f(X(icb)), top-12, ColourTarget, thousands(icb, 1))
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text is escaped
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
