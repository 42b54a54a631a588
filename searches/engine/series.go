package engine

import (
	"context"
	"fmt"
	"time"
)

// SeriesEvaluator is an engine that evaluates a plan at several as-of dates
// at once, such as in one query over the data.
type SeriesEvaluator interface {
	// EvaluateSeries computes every measure of in.Plan at each of asOfs
	// (in.Dates.AsOf is ignored, in.Dates.Baseline kept), one Result per
	// date in the order of asOfs.
	EvaluateSeries(ctx context.Context, in Input, asOfs []time.Time) ([]*Result, error)
}

// Series evaluates in.Plan at each of asOfs with e's EvaluateSeries when it
// has one, and else with one Evaluate per date. Every engine gives the same
// results either way: a series point is the plan evaluated as of its date.
func Series(ctx context.Context, e Engine, in Input, asOfs []time.Time) ([]*Result, error) {
	if se, ok := e.(SeriesEvaluator); ok {
		res, err := se.EvaluateSeries(ctx, in, asOfs)
		if err != nil {
			return nil, err
		}
		if len(res) != len(asOfs) {
			return nil, fmt.Errorf("series: %d results for %d dates", len(res), len(asOfs))
		}
		return res, nil
	}
	return EachDate(ctx, e, in, asOfs)
}

// EachDate evaluates in.Plan once per date of asOfs.
func EachDate(ctx context.Context, e Engine, in Input, asOfs []time.Time) ([]*Result, error) {
	out := make([]*Result, len(asOfs))
	for k, d := range asOfs {
		at := in
		at.Dates.AsOf = d
		r, err := e.Evaluate(ctx, at)
		if err != nil {
			return nil, fmt.Errorf("series as of %s: %w", d.Format(time.DateOnly), err)
		}
		out[k] = r
	}
	return out, nil
}
