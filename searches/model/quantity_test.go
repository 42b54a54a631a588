package model

import "testing"

func TestReadsQuantity(t *testing.T) {
	cl := &Codelist{Name: "opioids"}
	count := &Aggregate{Op: OpCount, Source: Issues, Codelist: cl}
	sum := &Aggregate{Op: OpSum, Source: Issues, Codelist: cl, Value: ValueQuantity}
	unknown := &Aggregate{Op: OpCount, Source: Issues, Codelist: cl, Value: ValueQuantityRef, Filter: RowsValueUnknown}
	events := &Aggregate{Op: OpSum, Source: Events, Codelist: cl, Value: ValueNumericValue}
	dose := &Variable{Name: "dose", Expr: sum}
	for _, c := range []struct {
		e    Expr
		want bool
	}{
		{count, false},
		{sum, true},
		{unknown, true},
		{events, false},
		{&Aggregate{Op: OpCount, Source: Issues, Codelist: cl, Where: []RowCond{{Col: ColQuantity, Op: ">", Value: &NumberLit{Value: 100}}}}, true},
		{&Aggregate{Op: OpCount, Source: Issues, Codelist: cl, Where: []RowCond{{Col: ColRef, Ref: &Reference{Name: "ome"}, Op: ">", Value: &NumberLit{Value: 30}}}}, false},
		{&Compare{Op: ">=", L: &VarRef{Var: dose}, R: &NumberLit{Value: 120}}, true},
		{&Logic{Op: "and", L: &Registered{}, R: &Not{X: &Compare{Op: ">", L: count, R: &NumberLit{}}}}, false},
		{&Arith{Op: "*", L: &NumberLit{Value: 2}, R: &VarRef{Var: dose}}, true},
	} {
		if got := ReadsQuantity(c.e); got != c.want {
			t.Errorf("ReadsQuantity(%s) = %v, want %v", Key(c.e), got, c.want)
		}
	}
	m := &PlannedMeasure{Measure: &Measure{ID: "m"}, Numerator: &Agg{Where: &Registered{}}, Denominator: &Agg{Kind: KindSum, Value: sum}}
	if !m.ReadsQuantity() {
		t.Error("a ratio over a quantity sum does not read quantities")
	}
	m = &PlannedMeasure{Measure: &Measure{ID: "m"}, Value: &Agg{Where: &Compare{Op: ">", L: count, R: &NumberLit{}}}}
	if m.ReadsQuantity() {
		t.Error("a count of patients with issues reads quantities")
	}
}
