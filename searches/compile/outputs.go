package compile

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
)

// Outputs: the result columns of a measures query, their names, and where
// Evaluate puts each value.

// field is what one result column of a measures query holds.
type field int

// Fields.
const (
	fieldUniverse    field = iota + 1 // patients in the universe (no measure)
	fieldRowsRead                     // rows read by the source passes (no measure)
	fieldValue                        // a measure's value
	fieldNumerator                    // a ratio's numerator
	fieldDenominator                  // a ratio's denominator
	fieldStratum                      // one cell of a count's stratification
)

// fieldNames name the fields in result column names.
var fieldNames = [...]string{
	fieldUniverse:    "universe",
	fieldRowsRead:    "rows_read",
	fieldValue:       "value",
	fieldNumerator:   "numerator",
	fieldDenominator: "denominator",
	fieldStratum:     "stratum",
}

func (f field) String() string {
	if f > 0 && int(f) < len(fieldNames) {
		return fieldNames[f]
	}
	return "field(" + strconv.Itoa(int(f)) + ")"
}

// output says where one result column of an Evaluate query goes.
type output struct {
	measure int // index in the plan, -1 for fieldUniverse and fieldRowsRead
	field   field
	dim     model.Dimension // fieldStratum: the stratification
	label   string          // fieldStratum: the stratum's label
	part    string          // fieldStratum of a ratio: numerator or denominator
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]`)

// outputName is a stable, safe column alias for an output.
func outputName(plan *model.Plan, o output) string {
	if o.measure < 0 {
		return o.field.String()
	}
	id := nonIdent.ReplaceAllString(strings.ToLower(plan.Measures[o.measure].ID), "_")
	name := "m" + strconv.Itoa(o.measure) + "_" + id + "__" + o.field.String()
	if o.field == fieldStratum {
		name = "m" + strconv.Itoa(o.measure) + "_" + id + "__" + string(o.dim) + "_" + nonIdent.ReplaceAllString(strings.ToLower(o.label), "_")
		if o.part != "" {
			name = "m" + strconv.Itoa(o.measure) + "_" + id + "__" + o.part + "_" + string(o.dim) + "_" + nonIdent.ReplaceAllString(strings.ToLower(o.label), "_")
		}
		name = nonIdent.ReplaceAllString(name, "_")
	}
	return name
}

// set puts the value of an output's column into res, whose Measures
// parallel the plan's. Columns are matched to outputs by position, not by
// name (PostgreSQL truncates long aliases).
func (o output) set(res *engine.Result, n engine.Number) error {
	switch o.field {
	case fieldUniverse:
		res.Patients = int64(n.Value)
		return nil
	case fieldRowsRead:
		res.Rows = int64(n.Value)
		return nil
	}
	if o.measure < 0 || o.measure >= len(res.Measures) {
		return fmt.Errorf("%v of measure %d, but the plan has %d measures", o.field, o.measure+1, len(res.Measures))
	}
	mr := &res.Measures[o.measure]
	switch o.field {
	case fieldValue:
		mr.Value = n
	case fieldNumerator:
		mr.Numerator = n
	case fieldDenominator:
		mr.Denominator = n
	case fieldStratum:
		mr.Strata = append(mr.Strata, engine.Stratum{Dimension: o.dim, Label: o.label, Count: int64(n.Value), Part: o.part})
	default:
		return fmt.Errorf("unknown output %v", o.field)
	}
	return nil
}
