// Package engine defines what every search engine computes, so that the
// SQL engines (one compiler per dialect) and the in-memory reference
// evaluator can be run side by side and compared, and so that the results
// document is built the same way whichever engine ran.
package engine

import (
	"context"
	"time"

	"github.com/nhs-steward/steward/searches/model"
)

// Input is one evaluation of a plan.
type Input struct {
	Plan *model.Plan
	// Practice is the practice's ODS code: only registration spells at this
	// practice count.
	Practice string
	Dates    model.Dates
	// Params override parameter defaults by name.
	Params map[string]float64
}

// ParamValue returns the value of a parameter in this input.
func (in Input) ParamValue(p *model.Parameter) float64 {
	if v, ok := in.Params[p.Name]; ok {
		return v
	}
	return p.Default
}

// Number is a nullable number.
type Number struct {
	Value float64
	Valid bool
}

// Result holds the aggregates of every planned measure, in plan order.
type Result struct {
	Measures []MeasureResult
	// Patients is the number of patients in the universe (every patient with
	// a registration spell at the practice); Rows the number of issue and
	// event rows the engine read, where it can tell (0 when not).
	Patients int64
	Rows     int64
	Duration time.Duration
}

// MeasureResult is the raw, unprotected figures of one measure. It never
// leaves the practice as is: the results document is built from it, and
// disclosure control is applied to its strata.
type MeasureResult struct {
	ID string
	// Value is the count or sum (count and sum measures).
	Value Number
	// Numerator and Denominator are the aggregates of a ratio, before Per
	// scaling.
	Numerator, Denominator Number
	// Strata count the measure's Value (count measures) per stratum, for
	// each dimension the measure is stratified by; every label of the
	// dimension is present, zero when empty.
	Strata []Stratum
}

// Stratum is one stratum's count.
type Stratum struct {
	Dimension model.Dimension
	Label     string
	Count     int64
	// Part is "numerator" or "denominator" for a ratio's strata, "" for a
	// count's.
	Part string
}

// Parts of a stratified ratio.
const (
	PartNumerator   = "numerator"
	PartDenominator = "denominator"
)

// Value is a nullable value of a per-patient expression.
type Value struct {
	Type   model.Type
	Valid  bool
	Bool   bool
	Number float64
	Date   time.Time
	Text   string // model.Text: a row's code
}

// PatientRow is one patient's values of the requested expressions. Rows
// like these are local-only: worklists and tests use them; results
// documents never hold them.
type PatientRow struct {
	PatientID int64
	Values    []Value
}

// Engine evaluates plans.
type Engine interface {
	// Evaluate computes every measure of in.Plan.
	Evaluate(ctx context.Context, in Input) (*Result, error)
	// Patients returns, for every patient in the universe for whom where
	// holds (every patient when where is nil), the values of exprs,
	// ordered by patient id. where and exprs are resolved expressions
	// (see model.Resolve); engines accept any expression of in.Plan's
	// search resolved at the as-of date.
	Patients(ctx context.Context, in Input, where model.Expr, exprs []model.Expr) ([]PatientRow, error)
}

// RoundSum is the rounding every engine applies to a sum aggregate (and
// to a per-day sum): 6 decimal places, so that comparisons such as
// "daily OME >= 120" are exact whatever the engine's arithmetic.
const RoundSum = 6
