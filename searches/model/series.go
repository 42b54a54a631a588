package model

import "time"

// Series: a measure evaluated at each of a list of month ends in one run.

// MaxSeriesMonths is the longest series a measure may ask for: five years
// of month ends.
const MaxSeriesMonths = 60

// SeriesDates are the n as-of dates of a series ending at asOf, oldest
// first: the month ends of the n-1 months before asOf's month, then asOf
// itself (usually a month end too). Nil when n < 1.
func SeriesDates(asOf time.Time, n int) []time.Time {
	if n < 1 {
		return nil
	}
	out := make([]time.Time, n)
	first := time.Date(asOf.Year(), asOf.Month(), 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n-1; i++ {
		out[i] = first.AddDate(0, i-(n-1), 0).AddDate(0, 1, -1)
	}
	out[n-1] = time.Date(asOf.Year(), asOf.Month(), asOf.Day(), 0, 0, 0, 0, time.UTC)
	return out
}

// SeriesPlan returns a plan of p's measures that have a series (nil when
// none has one) and the longest series among them. The plan shares p's
// search and aggregates; only its Measures differ.
func (p *Plan) SeriesPlan() (*Plan, int) {
	var ms []*PlannedMeasure
	n := 0
	for _, m := range p.Measures {
		if m.Series > 0 {
			ms = append(ms, m)
			n = max(n, m.Series)
		}
	}
	if len(ms) == 0 {
		return nil, 0
	}
	sp := *p
	sp.Measures = ms
	sp.Worklist = nil
	return &sp, n
}
