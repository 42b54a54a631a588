package model

// ReadsQuantity reports whether e reads the quantity of medication issues
// (a sum, or a value-known filter, of quantity or quantity x reference),
// following variable references. Such an expression cannot be computed on
// a layout that has no issue quantities.
func ReadsQuantity(e Expr) bool {
	switch e := e.(type) {
	case *VarRef:
		return ReadsQuantity(e.Var.Expr)
	case *Not:
		return ReadsQuantity(e.X)
	case *Logic:
		return ReadsQuantity(e.L) || ReadsQuantity(e.R)
	case *Compare:
		return ReadsQuantity(e.L) || ReadsQuantity(e.R)
	case *Arith:
		return ReadsQuantity(e.L) || ReadsQuantity(e.R)
	case *Aggregate:
		return e.Value == ValueQuantity || e.Value == ValueQuantityRef || e.ReadsQuantityColumn()
	}
	return false
}

// ReadsQuantity reports whether any figure of the measure (its value,
// numerator or denominator, and so its strata) reads issue quantities.
func (m *PlannedMeasure) ReadsQuantity() bool {
	for _, a := range []*Agg{m.Value, m.Numerator, m.Denominator} {
		if a == nil {
			continue
		}
		if (a.Where != nil && ReadsQuantity(a.Where)) || (a.Value != nil && ReadsQuantity(a.Value)) {
			return true
		}
	}
	return false
}
