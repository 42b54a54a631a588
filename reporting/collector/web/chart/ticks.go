package chart

import (
	"math"
)

// NiceStep returns the smallest step of the form 1, 2 or 5 x 10^n that is
// at least raw (raw > 0).
func NiceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	exp := math.Floor(math.Log10(raw))
	pow := math.Pow(10, exp)
	frac := raw / pow
	// Allow for the rounding of raw/pow: 2.0000000001 is 2.
	const eps = 1e-9
	switch {
	case frac <= 1+eps:
		return pow
	case frac <= 2+eps:
		return 2 * pow
	case frac <= 5+eps:
		return 5 * pow
	}
	return 10 * pow
}

// Ticks returns "nice" tick values covering [lo, hi] with at most max
// intervals between them: a step of 1, 2 or 5 x 10^n, the first tick at
// or below lo and the last at or above hi, each a whole multiple of the
// step. lo == hi gets one step either side.
func Ticks(lo, hi float64, max int) []float64 {
	if max < 1 {
		max = 1
	}
	if hi < lo {
		lo, hi = hi, lo
	}
	if hi-lo < 1e-12 {
		pad := math.Max(math.Abs(hi)*0.1, 1)
		if lo >= 0 && lo-pad < 0 {
			lo, hi = 0, hi+pad
		} else {
			lo, hi = lo-pad, hi+pad
		}
	}
	step := NiceStep((hi - lo) / float64(max))
	for {
		first := math.Floor(lo/step+1e-9) * step
		last := math.Ceil(hi/step-1e-9) * step
		n := int(math.Round((last - first) / step))
		if n <= max {
			out := make([]float64, 0, n+1)
			for i := 0; i <= n; i++ {
				out = append(out, roundTo(first+float64(i)*step, step))
			}
			return out
		}
		step = NiceStep(step * 1.5) // the next nice step up
	}
}

// Decimals is how many decimals show a multiple of step exactly.
func Decimals(step float64) int {
	if step <= 0 || math.IsNaN(step) || math.IsInf(step, 0) {
		return 0
	}
	for d := 0; d < 12; d++ {
		v := step * math.Pow(10, float64(d))
		if math.Abs(v-math.Round(v)) < 1e-6*math.Max(1, v) {
			return d
		}
	}
	return 12
}

// roundTo removes the float noise of a multiple of step (0.30000000000000004).
func roundTo(v, step float64) float64 {
	p := math.Pow(10, float64(Decimals(step)+2))
	r := math.Round(v*p) / p
	if r == 0 {
		return 0 // no negative zero
	}
	return r
}
