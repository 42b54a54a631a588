// Package spc analyses a monthly series the way NHS England's Making Data
// Count (MDC) XmR charts do (SCHEMES.md): centre line, process limits,
// close-to-limit lines, the four special-cause rules, and the variation and
// assurance icons. docs/spc.md explains the rules for readers of the charts.
//
// Analyse is pure: it takes points and options and returns a Chart; it does
// no I/O and keeps no state.
package spc

import (
	"errors"
	"fmt"
	"math"
)

// Constants of the XmR chart (MDC): the process limits are the mean plus or
// minus 2.66 mean moving ranges (3 sigma), the close-to-limit lines 1.773
// (2 sigma).
const (
	LimitFactor = 2.66
	CloseFactor = 1.773
	// MinPoints is the fewest points for which limits are computed; a shorter
	// series is shown as a plain run chart.
	MinPoints = 15
	// MinPartition is the fewest points a partition (the series before the
	// first rebase, or after any rebase) may have, and the smallest baseline.
	MinPartition = 12
	// DefaultBaseline is how many leading points of each partition set its
	// centre and limits when Options.Baseline is 0.
	DefaultBaseline = 20
	// AllPoints as Options.Baseline uses every point of each partition.
	AllPoints = -1
	// RunLength is the length of a shift or a trend.
	RunLength = 7
)

// Direction is which way is better for a measure.
type Direction int

// Directions.
const (
	Neither        Direction = iota // no direction: special causes are neutral
	HigherIsBetter                  // e.g. long_term_reviewed
	LowerIsBetter                   // e.g. long_term, high_dose
)

// Point is one observation, oldest first.
type Point struct {
	Label string  // e.g. "2025-03", for display only
	Value float64 // must be finite
}

// Options configure Analyse. The zero value is valid: no direction, no
// target, no rebase, baseline of the first DefaultBaseline points.
type Options struct {
	Improvement Direction
	// Target, if set, gives the assurance icon.
	Target *float64
	// Baseline is how many leading points of each partition set its centre
	// and limits: 0 means DefaultBaseline, AllPoints means every point, and
	// any other value must be at least MinPartition. A partition shorter than
	// the baseline uses all its points.
	Baseline int
	// Rebase lists the indexes (into the points) at which a new partition
	// starts, in increasing order: each partition gets its own centre and
	// limits, and runs do not cross a rebase.
	Rebase []int
}

// Rule identifies a special-cause rule; a point's Rules is a bit set.
type Rule uint8

// Rules.
const (
	RuleOutsideLimits Rule = 1 << iota // (1) beyond a process limit
	RuleShift                          // (2) 7 in a row on one side of the mean
	RuleTrend                          // (3) 7 in a row rising or falling
	RuleTwoOfThree                     // (4) 2 of 3 beyond a close-to-limit line
)

// String names the rules in r, comma-separated.
func (r Rule) String() string {
	names := []string{"outside_limits", "shift", "trend", "two_of_three"}
	s := ""
	for i, n := range names {
		if r&(1<<i) != 0 {
			if s != "" {
				s += ","
			}
			s += n
		}
	}
	return s
}

// Side is which side of the process a special cause lies on.
type Side string

// Sides.
const (
	SideNone Side = ""
	SideHigh Side = "high"
	SideLow  Side = "low"
)

// Class is what a point's variation means, given the improvement direction.
type Class string

// Classes.
const (
	CommonCause Class = "common_cause"
	Improvement Class = "improvement"
	Concern     Class = "concern"
	Neutral     Class = "neutral" // special cause with no improvement direction
)

// Variation is the variation icon: the latest point's class and side.
type Variation string

// Variation icons.
const (
	VariationNone            Variation = "none" // run chart: no limits
	VariationCommonCause     Variation = "common_cause"
	VariationImprovementHigh Variation = "special_cause_improvement_high"
	VariationImprovementLow  Variation = "special_cause_improvement_low"
	VariationConcernHigh     Variation = "special_cause_concern_high"
	VariationConcernLow      Variation = "special_cause_concern_low"
	VariationNeutralHigh     Variation = "special_cause_neutral_high"
	VariationNeutralLow      Variation = "special_cause_neutral_low"
)

// Assurance is the assurance icon: whether the process, as it stands, will
// meet the target.
type Assurance string

// Assurance icons.
const (
	AssuranceNone             Assurance = "none" // no target, no direction, or no limits
	AssuranceConsistentlyPass Assurance = "consistently_pass"
	AssuranceConsistentlyFail Assurance = "consistently_fail"
	AssuranceHitAndMiss       Assurance = "hit_and_miss"
)

// Partition is a run of points sharing one centre line and set of limits.
type Partition struct {
	Start, End  int // points[Start:End]
	BaselineEnd int // points[Start:BaselineEnd] set the lines
	Mean        float64
	MeanMR      float64 // mean moving range over the baseline
	// Process limits and close-to-limit lines. The lower ones are not
	// clipped at zero.
	UpperLimit, LowerLimit float64
	UpperClose, LowerClose float64
}

// PointResult is one point's analysis.
type PointResult struct {
	Label     string
	Value     float64
	Partition int   // index into Chart.Partitions
	Rules     Rule  // rules that flag this point
	Side      Side  // side of the special cause; SideNone when common cause
	Class     Class // CommonCause, Improvement, Concern or Neutral; "" on a run chart
}

// Chart is the result of Analyse.
type Chart struct {
	Points     []PointResult
	Partitions []Partition
	// Limits is false for a plain run chart (fewer than MinPoints points):
	// Partitions then hold only the mean, no point is flagged, and both
	// icons are none.
	Limits    bool
	Note      string // why there are no limits, when there are none
	Variation Variation
	Assurance Assurance
}

// ErrOptions wraps invalid options or points.
var ErrOptions = errors.New("spc")

// Analyse computes the XmR chart of points.
func Analyse(points []Point, opts Options) (Chart, error) {
	for i, p := range points {
		if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			return Chart{}, fmt.Errorf("%w: point %d (%s) is not a finite number", ErrOptions, i, p.Label)
		}
	}
	switch opts.Improvement {
	case Neither, HigherIsBetter, LowerIsBetter:
	default:
		return Chart{}, fmt.Errorf("%w: unknown improvement direction %d", ErrOptions, opts.Improvement)
	}
	if opts.Target != nil && (math.IsNaN(*opts.Target) || math.IsInf(*opts.Target, 0)) {
		return Chart{}, fmt.Errorf("%w: target is not a finite number", ErrOptions)
	}
	baseline := opts.Baseline
	switch {
	case baseline == 0:
		baseline = DefaultBaseline
	case baseline == AllPoints:
		baseline = len(points)
	case baseline < MinPartition:
		return Chart{}, fmt.Errorf("%w: baseline of %d points: at least %d are needed", ErrOptions, baseline, MinPartition)
	}
	bounds := []int{0}
	for _, r := range opts.Rebase {
		if r <= bounds[len(bounds)-1] || r >= len(points) {
			return Chart{}, fmt.Errorf("%w: rebase at %d: rebase points must increase and lie inside the series of %d", ErrOptions, r, len(points))
		}
		bounds = append(bounds, r)
	}
	bounds = append(bounds, len(points))
	c := Chart{Points: make([]PointResult, len(points)), Variation: VariationNone, Assurance: AssuranceNone}
	for k := 0; k+1 < len(bounds); k++ {
		start, end := bounds[k], bounds[k+1]
		if len(opts.Rebase) > 0 && end-start < MinPartition {
			return Chart{}, fmt.Errorf("%w: partition %d has %d points: each needs at least %d", ErrOptions, k, end-start, MinPartition)
		}
		c.Partitions = append(c.Partitions, partition(points, start, end, min(end, start+baseline)))
		for i := start; i < end; i++ {
			c.Points[i] = PointResult{Label: points[i].Label, Value: points[i].Value, Partition: k, Class: CommonCause}
		}
	}
	if len(points) < MinPoints {
		c.Note = fmt.Sprintf("%d points: at least %d are needed for process limits; shown as a run chart with no special-cause rules", len(points), MinPoints)
		for i := range c.Points {
			c.Points[i].Class = ""
		}
		for k := range c.Partitions {
			p := &c.Partitions[k]
			p.MeanMR, p.UpperLimit, p.LowerLimit, p.UpperClose, p.LowerClose = 0, 0, 0, 0, 0
		}
		return c, nil
	}
	c.Limits = true
	for _, part := range c.Partitions {
		flag(c.Points[part.Start:part.End], part)
	}
	for i := range c.Points {
		c.Points[i].Class = classify(c.Points[i].Side, opts.Improvement)
	}
	last := c.Points[len(c.Points)-1]
	c.Variation = variation(last.Class, last.Side)
	c.Assurance = assurance(c.Partitions[len(c.Partitions)-1], opts)
	return c, nil
}

func partition(points []Point, start, end, baseEnd int) Partition {
	p := Partition{Start: start, End: end, BaselineEnd: baseEnd}
	n := baseEnd - start
	if n == 0 {
		return p
	}
	for _, x := range points[start:baseEnd] {
		p.Mean += x.Value
	}
	p.Mean /= float64(n)
	if n > 1 {
		for i := start + 1; i < baseEnd; i++ {
			p.MeanMR += math.Abs(points[i].Value - points[i-1].Value)
		}
		p.MeanMR /= float64(n - 1)
	}
	p.UpperLimit = p.Mean + LimitFactor*p.MeanMR
	p.LowerLimit = p.Mean - LimitFactor*p.MeanMR
	p.UpperClose = p.Mean + CloseFactor*p.MeanMR
	p.LowerClose = p.Mean - CloseFactor*p.MeanMR
	return p
}

// flag applies the four rules to one partition's points. Comparisons are
// strict: a point on a line is not beyond it, and a point on the mean is on
// neither side.
func flag(pts []PointResult, p Partition) {
	high := make([]bool, len(pts))
	low := make([]bool, len(pts))
	mark := func(i int, r Rule, isHigh bool) {
		pts[i].Rules |= r
		if isHigh {
			high[i] = true
		} else {
			low[i] = true
		}
	}
	// (1) Outside the process limits.
	for i, x := range pts {
		if x.Value > p.UpperLimit {
			mark(i, RuleOutsideLimits, true)
		} else if x.Value < p.LowerLimit {
			mark(i, RuleOutsideLimits, false)
		}
	}
	// (2) Shift: a run of RunLength or more on one side of the mean.
	side := func(i int) int {
		switch v := pts[i].Value; {
		case v > p.Mean:
			return 1
		case v < p.Mean:
			return -1
		}
		return 0
	}
	markRuns(len(pts), RunLength, func(i int) int { return side(i) }, func(i, s int) { mark(i, RuleShift, s > 0) })
	// (3) Trend: RunLength or more points each above (or each below) the one
	// before. A run of RunLength points holds RunLength-1 steps; each step
	// is keyed on its later point, and the run's first point is marked too.
	step := func(i int) int {
		if i == 0 {
			return 0
		}
		switch a, b := pts[i-1].Value, pts[i].Value; {
		case b > a:
			return 1
		case b < a:
			return -1
		}
		return 0
	}
	markRuns(len(pts), RunLength-1, step, func(i, s int) {
		mark(i, RuleTrend, s > 0)
		mark(i-1, RuleTrend, s > 0)
	})
	// (4) Two of three beyond a close-to-limit line, all three on that side
	// of the mean; only the points beyond the line are flagged.
	for i := 2; i < len(pts); i++ {
		s := side(i)
		if s == 0 || side(i-1) != s || side(i-2) != s {
			continue
		}
		beyond := func(j int) bool {
			if s > 0 {
				return pts[j].Value > p.UpperClose
			}
			return pts[j].Value < p.LowerClose
		}
		n := 0
		for j := i - 2; j <= i; j++ {
			if beyond(j) {
				n++
			}
		}
		if n >= 2 {
			for j := i - 2; j <= i; j++ {
				if beyond(j) {
					mark(j, RuleTwoOfThree, s > 0)
				}
			}
		}
	}
	for i := range pts {
		switch {
		case high[i] && low[i]:
			// Flagged on both sides (for example the last point of a rising
			// trend that ends a shift below the mean): the point's own
			// position decides; on the mean, high.
			if pts[i].Value < p.Mean {
				pts[i].Side = SideLow
			} else {
				pts[i].Side = SideHigh
			}
		case high[i]:
			pts[i].Side = SideHigh
		case low[i]:
			pts[i].Side = SideLow
		}
	}
}

// markRuns finds maximal runs of equal non-zero key(i) of at least length
// and calls markFn for every index in them with the key.
func markRuns(n, length int, key func(int) int, markFn func(i, s int)) {
	for i := 0; i < n; {
		s := key(i)
		j := i + 1
		for j < n && key(j) == s {
			j++
		}
		if s != 0 && j-i >= length {
			for k := i; k < j; k++ {
				markFn(k, s)
			}
		}
		i = j
	}
}

func classify(s Side, d Direction) Class {
	switch {
	case s == SideNone:
		return CommonCause
	case d == Neither:
		return Neutral
	case (s == SideHigh) == (d == HigherIsBetter):
		return Improvement
	}
	return Concern
}

func variation(c Class, s Side) Variation {
	high := s == SideHigh
	switch c {
	case Improvement:
		return pick(high, VariationImprovementHigh, VariationImprovementLow)
	case Concern:
		return pick(high, VariationConcernHigh, VariationConcernLow)
	case Neutral:
		return pick(high, VariationNeutralHigh, VariationNeutralLow)
	}
	return VariationCommonCause
}

func pick[T any](cond bool, a, b T) T {
	if cond {
		return a
	}
	return b
}

// assurance compares the target with the latest partition's process
// limits: both limits on the passing side of the target is a consistent
// pass, both on the failing side a consistent fail, and a target between the
// limits (or on one) is hit and miss.
func assurance(p Partition, o Options) Assurance {
	if o.Target == nil || o.Improvement == Neither {
		return AssuranceNone
	}
	t := *o.Target
	lo, hi := p.LowerLimit, p.UpperLimit
	if o.Improvement == LowerIsBetter {
		lo, hi = -hi, -lo
		t = -t
	}
	switch {
	case lo > t:
		return AssuranceConsistentlyPass
	case hi < t:
		return AssuranceConsistentlyFail
	}
	return AssuranceHitAndMiss
}

// Flagged returns the indexes of points flagged by rule r, for tests and
// reports.
func (c Chart) Flagged(r Rule) []int {
	var out []int
	for i, p := range c.Points {
		if p.Rules&r != 0 {
			out = append(out, i)
		}
	}
	return out
}
