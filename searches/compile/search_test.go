package compile_test

import (
	"github.com/nhs-steward/steward/searches/model"
)

// testSearch is a small MedSIP-like search built by hand (the YAML loader
// is tested elsewhere): the MEASURES.md definitions over toy codelists.
type testSearch struct {
	s    *model.Search
	vars map[string]*model.Variable
}

func ref(v *model.Variable) model.Expr { return &model.VarRef{Var: v} }
func and(l, r model.Expr) model.Expr   { return &model.Logic{Op: "and", L: l, R: r} }
func or(l, r model.Expr) model.Expr    { return &model.Logic{Op: "or", L: l, R: r} }
func not(x model.Expr) model.Expr      { return &model.Not{X: x} }
func num(f float64) model.Expr         { return &model.NumberLit{Value: f} }
func cmp(op string, l, r model.Expr) model.Expr {
	return &model.Compare{Op: op, L: l, R: r}
}

func months(n int) model.Window { return model.Window{Kind: model.WindowMonths, N: n} }

var ever = model.Window{Kind: model.WindowEver}

func newTestSearch(opioidCodes []string) *testSearch {
	t := &testSearch{s: &model.Search{ID: "medsip", Title: "MedSIP-like", AgeBands: []int{18, 40, 65, 80}}, vars: map[string]*model.Variable{}}
	s := t.s
	high := &model.Parameter{Name: "high_dose_mg_per_day", Default: 120}
	s.Parameters = []*model.Parameter{high}
	opioids := &model.Codelist{Name: "opioids", Codes: opioidCodes}
	cancer := &model.Codelist{Name: "cancer", Codes: []string{"C1", "C2"}}
	palliative := &model.Codelist{Name: "palliative", Codes: []string{"P1"}}
	review := &model.Codelist{Name: "medication_review", Codes: []string{"R1", "R2"}}
	gaba := &model.Codelist{Name: "gabapentinoids", Codes: []string{"G1", "SHARED"}}
	s.Codelists = []*model.Codelist{opioids, cancer, palliative, review, gaba}
	ome := &model.Reference{Name: "ome", Values: map[string]float64{"OP1": 1, "OP2": 2.5, "SHARED": 3}}
	s.References = []*model.Reference{ome}

	v := func(name string, e model.Expr) model.Expr {
		x := &model.Variable{Name: name, Expr: e}
		s.Variables = append(s.Variables, x)
		t.vars[name] = x
		return ref(x)
	}
	agg := func(op model.AggOp, src model.Source, cl *model.Codelist, w model.Window) *model.Aggregate {
		return &model.Aggregate{Op: op, Source: src, Codelist: cl, Window: w}
	}
	adult := v("adult", and(&model.Registered{}, cmp(">=", &model.Age{}, num(18))))
	isCancer := v("cancer", agg(model.OpExists, model.Events, cancer, months(60)))
	isPall := v("palliative", agg(model.OpExists, model.Events, palliative, ever))
	eligible := v("eligible", and(and(adult, not(isCancer)), not(isPall)))
	each := v("opioid_each_month", agg(model.OpEachMonth, model.Issues, opioids, months(3)))
	longTerm := v("long_term", and(eligible, each))
	ome3 := agg(model.OpSum, model.Issues, opioids, months(3))
	ome3.Value, ome3.Ref = model.ValueQuantityRef, ome
	ome3m := v("ome_3m_mg", ome3)
	daily := *ome3
	daily.PerDay = true
	dailyOME := v("daily_ome", &daily)
	highDose := v("high_dose", and(longTerm, cmp(">=", dailyOME, &model.ParamRef{Param: high})))
	reviewed := v("reviewed", agg(model.OpExists, model.Events, review, months(12)))
	anyOpioid := v("any_opioid_3m", agg(model.OpExists, model.Issues, opioids, months(3)))
	unknown := agg(model.OpCount, model.Issues, opioids, months(3))
	unknown.Value, unknown.Ref, unknown.Filter = model.ValueQuantityRef, ome, model.RowsValueUnknown
	omeUnknown := v("ome_unknown_3m", unknown)
	v("gabapentinoid_3m", agg(model.OpExists, model.Issues, gaba, months(3)))
	v("last_review", agg(model.OpLast, model.Events, review, ever))
	v("first_opioid", agg(model.OpFirst, model.Issues, opioids, ever))
	v("opioid_issues_12m", agg(model.OpCount, model.Issues, opioids, months(12)))
	v("age", &model.Age{})
	v("registered", &model.Registered{})
	v("ome_per_issue", &model.Arith{Op: "/", L: ome3m, R: ref(t.vars["opioid_issues_12m"])})
	v("long_each_24", agg(model.OpEachMonth, model.Issues, opioids, months(24)))
	v("long_each_40", agg(model.OpEachMonth, model.Issues, opioids, months(40)))

	strat := []model.Dimension{model.DimSex, model.DimAgeBand, model.DimIMDQuintile}
	count := func(where model.Expr) *model.Agg { return &model.Agg{Kind: model.KindCount, Where: where} }
	baseline := func(e model.Expr) model.Expr {
		return &model.VarRef{Var: &model.Variable{Name: "b", Expr: e}, At: model.AnchorBaseline}
	}
	omeTotal := &model.Agg{Kind: model.KindSum, Where: eligible, Value: ome3m}
	s.Measures = []*model.Measure{
		{ID: "registered_adults", Kind: model.KindCount, Value: count(adult)},
		{ID: "eligible_adults", Kind: model.KindCount, Value: count(eligible)},
		{ID: "long_term", Kind: model.KindCount, Value: count(longTerm), Stratify: strat},
		{ID: "high_dose", Kind: model.KindCount, Value: count(highDose), Stratify: strat},
		{ID: "long_term_reviewed", Kind: model.KindRatio, Numerator: count(and(longTerm, reviewed)), Denominator: count(longTerm)},
		{ID: "ome_total_mg", Kind: model.KindSum, Value: omeTotal},
		{ID: "ome_per_1000", Kind: model.KindRatio, Numerator: omeTotal, Denominator: count(eligible), Per: 1000},
		{ID: "long_term_baseline", Kind: model.KindCount, At: model.AnchorBaseline,
			Value: &model.Agg{Kind: model.KindCount, Where: longTerm, At: model.AnchorBaseline}, Stratify: strat},
		{ID: "high_dose_baseline", Kind: model.KindCount, At: model.AnchorBaseline,
			Value: &model.Agg{Kind: model.KindCount, Where: highDose, At: model.AnchorBaseline}},
		{ID: "long_term_baseline_stopped", Kind: model.KindRatio,
			Numerator:   count(and(and(baseline(longTerm), &model.Registered{}), not(anyOpioid))),
			Denominator: count(and(baseline(longTerm), &model.Registered{}))},
		{ID: "baseline_lost", Kind: model.KindCount, Value: count(and(baseline(longTerm), not(&model.Registered{})))},
		{ID: "ome_unknown_issues", Kind: model.KindSum, Value: &model.Agg{Kind: model.KindSum, Where: eligible, Value: omeUnknown}},
		{ID: "universe", Kind: model.KindCount, Value: count(nil), Stratify: []model.Dimension{model.DimSex}},
		{ID: "gaba_or_long", Kind: model.KindCount, Value: count(or(longTerm, ref(t.vars["gabapentinoid_3m"])))},
	}
	return t
}

// plan resolves the search.
func (t *testSearch) plan() *model.Plan {
	p, err := model.Resolve(t.s)
	if err != nil {
		panic(err)
	}
	return p
}

// expr is a variable resolved at the as-of date.
func (t *testSearch) expr(name string) model.Expr {
	v := t.vars[name]
	if v == nil {
		panic("no variable " + name)
	}
	return model.ResolveExpr(ref(v), model.AnchorAsOf)
}
