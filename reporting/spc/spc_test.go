package spc

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
)

// base is a hand-checked baseline of 12 points alternating 9 and 11: mean 10,
// every moving range 2, so mean mR 2. Process limits 10 +/- 5.32 (4.68,
// 15.32); close-to-limit lines 10 +/- 3.546 (6.454, 13.546). Alternating
// points never make a shift, a trend, or a 2-of-3.
var base = []float64{9, 11, 9, 11, 9, 11, 9, 11, 9, 11, 9, 11}

// series is base followed by tail; index 12 is the first tail point.
func series(tail ...float64) []Point {
	var pts []Point
	for i, v := range append(append([]float64{}, base...), tail...) {
		pts = append(pts, Point{Label: fmt.Sprintf("m%02d", i), Value: v})
	}
	return pts
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// opt fixes the lines on the 12 baseline points.
var opt = Options{Baseline: 12}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestBaselineLines(t *testing.T) {
	c, err := Analyse(series(10, 10, 10), opt)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Partitions[0]
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"mean", p.Mean, 10}, {"mean mR", p.MeanMR, 2},
		{"upper limit", p.UpperLimit, 15.32}, {"lower limit", p.LowerLimit, 4.68},
		{"upper close", p.UpperClose, 13.546}, {"lower close", p.LowerClose, 6.454},
	} {
		if !near(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if !c.Limits || c.Note != "" || p.BaselineEnd != 12 || p.End != 15 {
		t.Errorf("chart %+v", c)
	}
	for r := RuleOutsideLimits; r <= RuleTwoOfThree; r <<= 1 {
		if got := c.Flagged(r); got != nil {
			t.Errorf("%v flags %v in a stable series", r, got)
		}
	}
}

func TestRules(t *testing.T) {
	tests := []struct {
		name string
		tail []float64
		rule Rule
		want []int // flagged indexes
		side Side  // side of every flagged point
	}{
		// (1) outside the process limits
		{"above upper limit", []float64{10, 16, 10}, RuleOutsideLimits, []int{13}, SideHigh},
		{"below lower limit", []float64{10, 4, 10}, RuleOutsideLimits, []int{13}, SideLow},
		{"inside limits", []float64{15.3, 4.7, 10}, RuleOutsideLimits, nil, ""},
		// (2) shift: index 11 is 11, above the mean, so it joins a run above.
		{"shift above joins baseline end", []float64{10.5, 10.5, 10.5, 10.5, 10.5, 10.5, 10.5}, RuleShift, seq(11, 18), SideHigh},
		{"shift of exactly 7", []float64{10, 10.5, 10.5, 10.5, 10.5, 10.5, 10.5, 10.5}, RuleShift, seq(13, 19), SideHigh},
		{"6 above is no shift", []float64{10, 10.5, 10.5, 10.5, 10.5, 10.5, 10.5, 10}, RuleShift, nil, ""},
		{"point on the mean breaks a shift", []float64{10.5, 10.5, 10.5, 10, 10.5, 10.5, 10.5, 10.5}, RuleShift, nil, ""},
		{"shift below", []float64{10, 9.5, 9, 9.5, 9, 9.5, 9, 9.5}, RuleShift, seq(13, 19), SideLow},
		// (3) trend: index 11 is 11, so a run starting at 7 begins at index 12.
		{"rising trend of 7", []float64{7, 8, 9, 10.5, 11, 12, 13}, RuleTrend, seq(12, 18), SideHigh},
		{"falling trend of 7", []float64{13, 12, 11, 10.5, 9, 8, 7}, RuleTrend, seq(12, 18), SideLow},
		{"6 rising is no trend", []float64{8, 9, 10.5, 11, 12, 13, 10}, RuleTrend, nil, ""},
		{"equal neighbours break a trend", []float64{7, 8, 9, 9, 10.5, 11, 12, 13}, RuleTrend, nil, ""},
		{"trend of 8 flags all 8", []float64{6.5, 7, 8, 9, 10.5, 11, 12, 13}, RuleTrend, seq(12, 19), SideHigh},
		// (4) two of three beyond a close-to-limit line, all on one side
		{"2 of 3 high, middle not flagged", []float64{14, 10.5, 14}, RuleTwoOfThree, []int{12, 14}, SideHigh},
		{"2 of 3 low", []float64{6, 9.5, 6}, RuleTwoOfThree, []int{12, 14}, SideLow},
		{"3 of 3 high", []float64{14, 14, 14, 10}, RuleTwoOfThree, seq(12, 14), SideHigh},
		{"beyond the process limit counts", []float64{16, 10.5, 14}, RuleTwoOfThree, []int{12, 14}, SideHigh},
		{"middle point below the mean", []float64{14, 9, 14}, RuleTwoOfThree, nil, ""},
		{"middle point on the mean", []float64{14, 10, 14}, RuleTwoOfThree, nil, ""},
		{"2 of 4 apart is not 2 of 3", []float64{14, 10.5, 10.5, 14}, RuleTwoOfThree, nil, ""},
		{"opposite sides", []float64{14, 6, 14}, RuleTwoOfThree, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Analyse(series(tc.tail...), opt)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Flagged(tc.rule); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("%v flags %v, want %v", tc.rule, got, tc.want)
			}
			for _, i := range tc.want {
				if got := c.Points[i].Side; got != tc.side {
					t.Errorf("point %d side %q, want %q", i, got, tc.side)
				}
			}
		})
	}
}

func TestRuleBoundariesAreStrict(t *testing.T) {
	pts := series(10, 10, 10)
	c, _ := Analyse(pts, opt)
	p := c.Partitions[0]
	// A point exactly on a line is not beyond it.
	pts = series(p.UpperLimit, 10, p.UpperClose, 10.5, p.UpperClose, 10)
	c, err := Analyse(pts, opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Flagged(RuleOutsideLimits | RuleTwoOfThree); got != nil {
		t.Fatalf("points on the lines flagged: %v", got)
	}
}

func TestRunChart(t *testing.T) {
	// 14 points, 7 of them rising and above the mean: still no flags.
	pts := series(20, 21)
	if len(pts) != 14 {
		t.Fatal(len(pts))
	}
	c, err := Analyse(pts, Options{Improvement: LowerIsBetter, Target: ptr(5)})
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits || c.Note == "" || c.Variation != VariationNone || c.Assurance != AssuranceNone {
		t.Fatalf("run chart %+v", c)
	}
	p := c.Partitions[0]
	if want := (120.0 + 41) / 14; !near(p.Mean, want) || p.UpperLimit != 0 || p.MeanMR != 0 {
		t.Fatalf("partition %+v, want only mean %v", p, want)
	}
	for i, pt := range c.Points {
		if pt.Rules != 0 || pt.Side != SideNone || pt.Class != "" {
			t.Fatalf("point %d flagged on a run chart: %+v", i, pt)
		}
	}
	// 15 points: limits.
	if c, _ := Analyse(series(20, 21, 22), Options{}); !c.Limits {
		t.Fatal("15 points gave no limits")
	}
}

func ptr(v float64) *float64 { return &v }

func TestIcons(t *testing.T) {
	tests := []struct {
		name string
		tail []float64
		dir  Direction
		want Variation
	}{
		{"common cause", []float64{10, 10, 10}, HigherIsBetter, VariationCommonCause},
		{"high, higher better", []float64{10, 10, 16}, HigherIsBetter, VariationImprovementHigh},
		{"high, lower better", []float64{10, 10, 16}, LowerIsBetter, VariationConcernHigh},
		{"high, no direction", []float64{10, 10, 16}, Neither, VariationNeutralHigh},
		{"low, lower better", []float64{10, 10, 4}, LowerIsBetter, VariationImprovementLow},
		{"low, higher better", []float64{10, 10, 4}, HigherIsBetter, VariationConcernLow},
		{"low, no direction", []float64{10, 10, 4}, Neither, VariationNeutralLow},
		{"falling trend, lower better", []float64{13, 12, 11, 10.5, 9, 8, 7}, LowerIsBetter, VariationImprovementLow},
		{"earlier special cause only", []float64{16, 10, 10}, HigherIsBetter, VariationCommonCause},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Analyse(series(tc.tail...), Options{Baseline: 12, Improvement: tc.dir})
			if err != nil {
				t.Fatal(err)
			}
			if c.Variation != tc.want {
				t.Fatalf("variation = %q, want %q", c.Variation, tc.want)
			}
		})
	}
	// Per-point classes follow the direction.
	c, _ := Analyse(series(16, 10, 4), Options{Baseline: 12, Improvement: LowerIsBetter})
	if got, want := []Class{c.Points[12].Class, c.Points[13].Class, c.Points[14].Class}, []Class{Concern, CommonCause, Improvement}; !reflect.DeepEqual(got, want) {
		t.Errorf("classes %v, want %v", got, want)
	}

	// Assurance against the limits 4.68 .. 15.32.
	for _, tc := range []struct {
		dir    Direction
		target *float64
		want   Assurance
	}{
		{HigherIsBetter, ptr(4), AssuranceConsistentlyPass},
		{HigherIsBetter, ptr(16), AssuranceConsistentlyFail},
		{HigherIsBetter, ptr(10), AssuranceHitAndMiss},
		{LowerIsBetter, ptr(16), AssuranceConsistentlyPass},
		{LowerIsBetter, ptr(4), AssuranceConsistentlyFail},
		{LowerIsBetter, ptr(10), AssuranceHitAndMiss},
		{Neither, ptr(4), AssuranceNone},
		{HigherIsBetter, nil, AssuranceNone},
	} {
		c, err := Analyse(series(10, 10, 10), Options{Baseline: 12, Improvement: tc.dir, Target: tc.target})
		if err != nil {
			t.Fatal(err)
		}
		if c.Assurance != tc.want {
			t.Errorf("direction %d target %v: assurance %q, want %q", tc.dir, tc.target, c.Assurance, tc.want)
		}
	}
}

func TestBaselineAndRebase(t *testing.T) {
	// 20 alternating points, then 5 at 100.
	var pts []Point
	for i := range 25 {
		v := 9.0 + 2*float64(i%2)
		if i >= 20 {
			v = 100
		}
		pts = append(pts, Point{Value: v})
	}
	c, err := Analyse(pts, Options{}) // default: first 20 points
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Partitions[0]; p.BaselineEnd != 20 || !near(p.Mean, 10) || !near(p.MeanMR, 2) {
		t.Fatalf("default baseline %+v", p)
	}
	if got := c.Flagged(RuleOutsideLimits); !reflect.DeepEqual(got, seq(20, 24)) {
		t.Fatalf("outside = %v", got)
	}
	c, _ = Analyse(pts, Options{Baseline: AllPoints})
	if p := c.Partitions[0]; p.BaselineEnd != 25 || !near(p.Mean, 28) || !near(p.MeanMR, 127.0/24) {
		t.Fatalf("all-points baseline %+v", p)
	}

	// 12 points around 10, then 12 around 20: rebased, each is stable.
	var step []Point
	for i := range 24 {
		v := 9.0 + 2*float64(i%2)
		if i >= 12 {
			v += 10
		}
		step = append(step, Point{Value: v})
	}
	c, err = Analyse(step, Options{Rebase: []int{12}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Partitions) != 2 || !near(c.Partitions[1].Mean, 20) || !near(c.Partitions[1].MeanMR, 2) || c.Points[12].Partition != 1 {
		t.Fatalf("rebased partitions %+v", c.Partitions)
	}
	for i, p := range c.Points {
		if p.Rules != 0 {
			t.Fatalf("rebased point %d flagged %v", i, p.Rules)
		}
	}
	// Without the rebase the mean is 15: the first half is a shift below it
	// and the second half a shift above.
	c, _ = Analyse(step, Options{Baseline: AllPoints})
	if got := c.Flagged(RuleShift); !reflect.DeepEqual(got, seq(0, 23)) || c.Points[0].Side != SideLow || c.Points[23].Side != SideHigh {
		t.Fatalf("unrebased shift = %v", got)
	}
}

func TestOptionErrors(t *testing.T) {
	pts := series(10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10)
	for name, o := range map[string]Options{
		"short baseline":       {Baseline: 11},
		"short partition":      {Rebase: []int{13}},
		"rebase at start":      {Rebase: []int{0}},
		"rebase past the end":  {Rebase: []int{24}},
		"rebase not ascending": {Rebase: []int{12, 12}},
		"bad direction":        {Improvement: 7},
		"bad target":           {Target: ptr(math.NaN())},
	} {
		if _, err := Analyse(pts, o); !errors.Is(err, ErrOptions) {
			t.Errorf("%s: err = %v, want ErrOptions", name, err)
		}
	}
	if _, err := Analyse([]Point{{Value: math.Inf(1)}}, Options{}); !errors.Is(err, ErrOptions) {
		t.Errorf("infinite point: err = %v", err)
	}
	if c, err := Analyse(nil, Options{}); err != nil || c.Limits || c.Variation != VariationNone {
		t.Errorf("empty series: %+v, %v", c, err)
	}
}

func TestBothSidesResolvedByPosition(t *testing.T) {
	// Indexes 12..20 are below the mean (a shift, low); 14..20 rise (a
	// trend, high). Where both apply, the point's position below the mean
	// decides: low.
	c, err := Analyse(series(9.5, 9, 8, 8.2, 8.4, 8.6, 8.8, 9.0, 9.2), opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Flagged(RuleShift); !reflect.DeepEqual(got, seq(12, 20)) {
		t.Fatalf("shift = %v", got)
	}
	if got := c.Flagged(RuleTrend); !reflect.DeepEqual(got, seq(14, 20)) {
		t.Fatalf("trend = %v", got)
	}
	if p := c.Points[20]; p.Side != SideLow || p.Rules != RuleShift|RuleTrend || p.Rules.String() != "shift,trend" {
		t.Fatalf("point 20 = %+v", p)
	}
}
