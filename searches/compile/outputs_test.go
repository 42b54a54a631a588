package compile

import (
	"strings"
	"testing"

	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
)

// TestOutputFields checks that every field has a name and goes somewhere
// in a Result, and that an output with no known field, or of a measure
// the result does not have, is an error rather than a value dropped.
func TestOutputFields(t *testing.T) {
	one := engine.Number{Value: 1, Valid: true}
	seen := map[string]bool{}
	for f := fieldUniverse; f <= fieldStratum; f++ {
		name := f.String()
		if strings.HasPrefix(name, "field(") || seen[name] {
			t.Errorf("field %d is named %q", int(f), name)
		}
		seen[name] = true
		res := &engine.Result{Measures: make([]engine.MeasureResult, 1)}
		if err := (output{measure: 0, field: f, dim: model.DimSex, label: "F"}).set(res, one); err != nil {
			t.Errorf("%v: %v", f, err)
		}
		r := res.Measures[0]
		if res.Patients == 0 && res.Rows == 0 && !r.Value.Valid && !r.Numerator.Valid && !r.Denominator.Valid && len(r.Strata) == 0 {
			t.Errorf("%v: the value went nowhere: %+v", f, *res)
		}
	}
	for _, tc := range []struct {
		o    output
		want string
	}{
		{output{measure: 0}, "unknown output field(0)"},
		{output{measure: 0, field: fieldStratum + 1}, "unknown output field(7)"},
		{output{measure: 1, field: fieldValue}, "value of measure 2, but the plan has 1 measures"},
		{output{measure: -1, field: fieldNumerator}, "numerator of measure 0, but the plan has 1 measures"},
	} {
		res := &engine.Result{Measures: make([]engine.MeasureResult, 1)}
		err := tc.o.set(res, one)
		if err == nil || err.Error() != tc.want {
			t.Errorf("set(%+v) = %v, want %q", tc.o, err, tc.want)
		}
	}
}
