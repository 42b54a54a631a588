package eval

import (
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
)

// rowValues computes the row-value aggregates (min, max, mean,
// count_distinct, and first/last/nth reading an attribute) over the rows
// in, which passed the codelist, window and rows filter. done is false for
// the other aggregates.
func (r *run) rowValues(a *model.Aggregate, in []row) (v engine.Value, done bool, err error) {
	switch {
	case a.Op == model.OpMin || a.Op == model.OpMax:
		var best *big.Rat
		for _, rw := range in {
			if rw.value == nil {
				continue
			}
			if best == nil || (a.Op == model.OpMin && rw.value.Cmp(best) < 0) || (a.Op == model.OpMax && rw.value.Cmp(best) > 0) {
				best = rw.value
			}
		}
		if best == nil {
			return nullNumber, true, nil
		}
		return number(RoundSum(best)), true, nil
	case a.Op == model.OpMean:
		sum, n := new(big.Rat), int64(0)
		for _, rw := range in {
			if rw.value != nil {
				sum.Add(sum, rw.value)
				n++
			}
		}
		if n == 0 {
			return nullNumber, true, nil
		}
		return number(RoundSum(sum.Quo(sum, new(big.Rat).SetInt64(n)))), true, nil
	case a.Op == model.OpCountDistinct:
		seen := map[string]bool{}
		for _, rw := range in {
			k := rw.code
			if a.Of.Kind == model.AttrCategory {
				c, ok := a.Of.Category.Values[rw.code]
				if !ok {
					continue
				}
				k = c
			}
			seen[k] = true
		}
		return number(float64(len(seen))), true, nil
	case a.RowRanked():
		return r.ranked(a, in)
	}
	return engine.Value{}, false, nil
}

// ranked is the attribute of the nth row in date order (first) or reverse
// date order (last). Rows on one date are ordered by code, then by the
// stored quantity or numeric value (a missing one first), so the row
// picked is the same in every engine.
func (r *run) ranked(a *model.Aggregate, in []row) (engine.Value, bool, error) {
	sorted := append([]row(nil), in...)
	sort.SliceStable(sorted, func(i, j int) bool { return rowLess(sorted[i], sorted[j]) })
	if a.Op == model.OpLast {
		for i, j := 0, len(sorted)-1; i < j; i, j = i+1, j-1 {
			sorted[i], sorted[j] = sorted[j], sorted[i]
		}
	}
	n := a.NthOr1()
	null := engine.Value{Type: a.Type()}
	if n > len(sorted) {
		return null, true, nil
	}
	rw := sorted[n-1]
	switch a.Of.Kind {
	case model.AttrDate:
		return dateValue(rw.date), true, nil
	case model.AttrValue:
		if rw.value == nil {
			return null, true, nil
		}
		return number(RoundSum(rw.value)), true, nil
	case model.AttrRef:
		f, ok := a.Of.Ref.Values[rw.code]
		if !ok {
			return null, true, nil
		}
		return number(RoundSum(rat(f))), true, nil
	case model.AttrCode:
		return engine.Value{Type: model.Text, Valid: true, Text: rw.code}, true, nil
	}
	return engine.Value{}, true, fmt.Errorf("%s: %s cannot read %s", a.P, a.Op, a.Of)
}

// rowLess is the row order: date, code, then the stored value with a
// missing one first.
func rowLess(x, y row) bool {
	if c := x.date.Compare(y.date); c != 0 {
		return c < 0
	}
	if x.code != y.code {
		return x.code < y.code
	}
	switch {
	case x.raw == nil:
		return y.raw != nil
	case y.raw == nil:
		return false
	}
	return *x.raw < *y.raw
}

// caseValue is the value of the first branch whose condition holds, else
// the else value, else null.
func (r *run) caseValue(e *model.Case, p *patient, cur model.Anchor) (engine.Value, error) {
	for _, w := range e.Whens {
		c, err := r.eval(w.When, p, cur)
		if err != nil {
			return c, err
		}
		if c.Bool {
			return r.eval(w.Then, p, cur)
		}
	}
	if e.Else == nil {
		return engine.Value{Type: e.T}, nil
	}
	return r.eval(e.Else, p, cur)
}

// stratumOf is the label of p's cell in one of m's stratifications,
// described at date at.
func (r *run) stratumOf(m *model.PlannedMeasure, dim model.Dimension, p *patient, at time.Time) (string, error) {
	bands := r.in.Plan.Search.AgeBands
	st := m.Stratification(dim)
	if st == nil {
		return stratum(p, dim, at, bands), nil
	}
	exprs := m.StrataExprs[dim]
	if len(exprs) != len(st.Parts) {
		return "", fmt.Errorf("stratification %s is not resolved", dim)
	}
	labels := make([]string, len(st.Parts))
	for i, part := range st.Parts {
		if part.Var == nil {
			labels[i] = stratum(p, part.Builtin, at, bands)
			continue
		}
		v, err := r.eval(exprs[i], p, concrete(m.At, model.AnchorAsOf))
		if err != nil {
			return "", err
		}
		labels[i] = part.VarLabel(v.Bool, v.Number, v.Valid)
	}
	return st.Label(labels), nil
}

// rowPasses reports whether a row passes every condition of an
// aggregate's rows: mapping. A column that is unknown — a NULL or
// non-positive quantity, a NULL numeric value, a code missing from the
// reference table — passes no comparison. Values compare as double
// precision numbers, as the SQL engines compare them.
func (r *run) rowPasses(a *model.Aggregate, rw row) bool {
	for _, c := range a.Where {
		var x float64
		switch c.Col {
		case model.ColQuantity:
			if rw.raw == nil || *rw.raw <= 0 {
				return false
			}
			x = *rw.raw
		case model.ColNumericValue:
			if rw.raw == nil {
				return false
			}
			x = *rw.raw
		case model.ColRef:
			f, ok := c.Ref.Values[rw.code]
			if !ok {
				return false
			}
			x = f
		default:
			return false
		}
		var v float64
		switch e := c.Value.(type) {
		case *model.NumberLit:
			v = e.Value
		case *model.ParamRef:
			v = r.in.ParamValue(e.Param)
		default:
			return false
		}
		if !c.Holds(x, v) {
			return false
		}
	}
	return true
}
