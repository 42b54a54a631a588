package lang

import (
	"testing"

	"github.com/nhs-steward/steward/searches/model"
)

// TestRowConds: a rows: mapping loads as its comparisons, between as >=
// and <=, a parameter as a ParamRef; the order they are written in does
// not change the aggregate's key, so equal filters share one aggregate.
func TestRowConds(t *testing.T) {
	src := `steward: search/v1
id: x
parameters:
  big: {default: 100}
codelists:
  opioids: {files: [{path: ../codelists/opioids.csv, version: test}]}
references:
  ome: {path: ../reference/ome-test.csv, version: test, key: dmd_code, value: mg_ome_per_unit}
variables:
  a:
    count: {issues: opioids, window: ever, rows: {quantity: {">": params.big, "!=": 150}, ome: {between: [1, 60]}}}
  b:
    count: {issues: opioids, window: ever, rows: {ome: {between: [1, 60]}, quantity: {"!=": 150, ">": params.big}}}
  c:
    count: {issues: opioids, window: ever}
measures:
  - id: m
    count: a > 0 and b > 0 and c > 0
`
	s, err := ParseSearch("testdata/x.yaml", []byte(src), "testdata/valid")
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := s.Variable("a").Expr.(*model.Aggregate), s.Variable("b").Expr.(*model.Aggregate), s.Variable("c").Expr.(*model.Aggregate)
	if model.Key(a) != model.Key(b) {
		t.Errorf("keys differ by the order written:\n%s\n%s", model.Key(a), model.Key(b))
	}
	const want = "count(issues:opioids,ever(current),rows=[ome <= 60 and ome >= 1 and quantity != 150 and quantity > params.big])"
	if got := model.Key(a); got != want {
		t.Errorf("key = %s, want %s", got, want)
	}
	if got := model.Key(c); got != "count(issues:opioids,ever(current))" {
		t.Errorf("an aggregate without rows: has key %s", got)
	}
	var params, refs int
	for _, w := range a.Where {
		if _, ok := w.Value.(*model.ParamRef); ok {
			params++
		}
		if w.Col == model.ColRef && w.Ref.Name == "ome" {
			refs++
		}
	}
	if len(a.Where) != 4 || params != 1 || refs != 2 {
		t.Errorf("conditions = %v", a.Where)
	}
	plan, err := model.Resolve(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Aggregates) != 2 {
		t.Errorf("plan has %d aggregates, want 2 (a and b shared, and c)", len(plan.Aggregates))
	}
}
