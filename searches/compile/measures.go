package compile

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
)

// Measures: val, each measure's where and value expressions and strata
// per patient, and the final SELECT computing every measure and stratum
// cell over it in one row.

// measureQuery is the measures query being built.
type measureQuery struct {
	c      *compiler
	vals   []valCol          // the columns of val after patient_id, n_rows
	byKey  map[string]string // where/value expression key -> val column
	strata map[string]string // dimension (and anchor) -> val column
	sel    []string          // the final SELECT's expressions
	outs   []output          // where each goes in a Result
}

// valCol is one column of val.
type valCol struct{ name, sql string }

// measures compiles every measure of the plan into one query of one row.
func (c *compiler) measures() (*Statement, error) {
	text, lk, cols, outs, err := c.measuresText()
	if err != nil {
		return nil, err
	}
	return c.finish(text, lk, cols, outs, nil)
}

// measuresText is the measures query's text, its parameters still tokens
// of c.b.
func (c *compiler) measuresText() (string, *Lookups, []string, []output, error) {
	q, ctes, lk, err := c.measureParts()
	if err != nil {
		return "", nil, nil, nil, err
	}
	text, cols := q.text(ctes)
	return text, lk, cols, q.outs, nil
}

// measureParts compiles the measures query into its CTEs (val last) and
// the final SELECT's expressions (q.sel, q.outs), parameters still tokens
// of c.b.
func (c *compiler) measureParts() (*measureQuery, []cte, *Lookups, error) {
	if err := c.collect(measureExprs(c.plan)); err != nil {
		return nil, nil, nil, err
	}
	q := &measureQuery{c: c, byKey: map[string]string{}, strata: map[string]string{}}
	q.add("COUNT(*)", output{measure: -1, field: fieldUniverse})
	q.add("SUM(v.n_rows)", output{measure: -1, field: fieldRowsRead})
	for i, m := range c.plan.Measures {
		if err := q.measure(i, m); err != nil {
			return nil, nil, nil, fmt.Errorf("measure %s: %w", m.ID, err)
		}
	}
	ctes, lk, err := c.ctes()
	if err != nil {
		return nil, nil, nil, err
	}
	return q, append(ctes, q.val()), lk, nil
}

// measureExprs are the where and value expressions of every measure.
func measureExprs(plan *model.Plan) []model.Expr {
	var all []model.Expr
	for _, m := range plan.Measures {
		for _, d := range m.Stratify {
			for _, e := range m.StrataExprs[d] {
				if e != nil {
					all = append(all, e)
				}
			}
		}
		for _, a := range []*model.Agg{m.Value, m.Numerator, m.Denominator} {
			if a == nil {
				continue
			}
			if a.Where != nil {
				all = append(all, a.Where)
			}
			if a.Value != nil {
				all = append(all, a.Value)
			}
		}
	}
	return all
}

// add adds a column to the final SELECT.
func (q *measureQuery) add(sql string, o output) {
	q.sel = append(q.sel, sql)
	q.outs = append(q.outs, o)
}

// measure adds the columns of measure i: its value, or numerator and
// denominator, and a count's strata cells.
func (q *measureQuery) measure(i int, m *model.PlannedMeasure) error {
	parts := []struct {
		field field
		agg   *model.Agg
	}{{fieldValue, m.Value}, {fieldNumerator, m.Numerator}, {fieldDenominator, m.Denominator}}
	for _, p := range parts {
		if p.agg == nil {
			continue
		}
		s, w, err := q.agg(p.agg)
		if err != nil {
			return err
		}
		q.add(s, output{measure: i, field: p.field})
		if p.agg.Kind != model.KindCount || len(m.Stratify) == 0 {
			continue
		}
		part := ""
		switch {
		case p.field == fieldNumerator && m.Kind == model.KindRatio:
			part = engine.PartNumerator
		case p.field == fieldDenominator && m.Kind == model.KindRatio:
			part = engine.PartDenominator
		case p.field != fieldValue:
			continue
		}
		if err := q.strataCells(i, m, p.agg, w, part); err != nil {
			return err
		}
	}
	return nil
}

// agg is the SQL of a count or sum over val, and the condition on a val
// row of its where ("" when it has none).
func (q *measureQuery) agg(a *model.Agg) (sql, where string, err error) {
	if a.Where != nil {
		n, err := q.column("w", a.Where)
		if err != nil {
			return "", "", err
		}
		where = "v." + n + " = 1"
	}
	switch a.Kind {
	case model.KindCount:
		if where == "" {
			return "COUNT(*)", where, nil
		}
		// SUM over no rows is NULL; a count over nobody is 0.
		return "COALESCE(SUM(CASE WHEN " + where + " THEN 1 ELSE 0 END), 0)", where, nil
	case model.KindSum:
		if a.Value == nil {
			return "", "", fmt.Errorf("compile: sum without a value")
		}
		n, err := q.column("v", a.Value)
		if err != nil {
			return "", "", err
		}
		inner := "v." + n
		if where != "" {
			inner = "CASE WHEN " + where + " THEN v." + n + " ELSE 0 END"
		}
		return q.c.d.Round("COALESCE(SUM("+inner+"), 0)", engine.RoundSum), where, nil
	}
	return "", "", fmt.Errorf("compile: unknown aggregate kind %q", a.Kind)
}

// strataCells adds a count per stratum label of each of m's
// stratifications, among the patients where (the count's where) holds.
func (q *measureQuery) strataCells(i int, m *model.PlannedMeasure, a *model.Agg, where, part string) error {
	at := a.At
	if at == model.AnchorCurrent {
		at = m.At
	}
	for _, dim := range m.Stratify {
		col, err := q.stratumCol(m, dim, at)
		if err != nil {
			return err
		}
		for li, l := range m.Labels(dim, q.c.plan.Search.AgeBands) {
			cond := fmt.Sprintf("v.%s = %d", col, li)
			if where != "" {
				cond = where + " AND " + cond
			}
			q.add("COALESCE(SUM(CASE WHEN "+cond+" THEN 1 ELSE 0 END), 0)", output{measure: i, field: fieldStratum, dim: dim, label: l, part: part})
		}
	}
	return nil
}

// column returns the val column of a where (prefix w, 0/1) or value
// (prefix v, double precision) expression, adding it once per key.
func (q *measureQuery) column(prefix string, e model.Expr) (string, error) {
	k := prefix + model.Key(e)
	if n, ok := q.byKey[k]; ok {
		return n, nil
	}
	s, err := q.c.expr(e)
	if err != nil {
		return "", err
	}
	n := prefix + strconv.Itoa(len(q.vals))
	if prefix == "v" {
		s = q.c.d.Float(s)
	}
	q.vals = append(q.vals, valCol{n, s})
	q.byKey[k] = n
	return n, nil
}

// stratum returns the val column (s_<dimension>) holding each patient's
// label index in a stratification, adding it once per dimension (and per
// anchor for age bands).
func (q *measureQuery) stratum(dim model.Dimension, at model.Anchor) (string, error) {
	at = anchorOf(at)
	key := string(dim)
	if dim == model.DimAgeBand {
		key += "_" + anchorName(at)
	}
	if n, ok := q.strata[key]; ok {
		return n, nil
	}
	var s string
	var err error
	switch dim {
	case model.DimSex:
		s, err = q.c.sexStratum()
	case model.DimIMDQuintile:
		s, err = q.c.imdStratum()
	case model.DimAgeBand:
		s, err = q.c.ageBandStratum(at)
	default:
		err = fmt.Errorf("compile: unknown stratification %q", dim)
	}
	if err != nil {
		return "", err
	}
	n := "s_" + key
	q.vals = append(q.vals, valCol{n, s})
	q.strata[key] = n
	return n, nil
}

// sexStratum is the index of a patient's sex in model.SexLabels.
func (c *compiler) sexStratum() (string, error) {
	var b strings.Builder
	b.WriteString("CASE")
	other := -1
	for i, l := range model.SexLabels {
		if l == model.Sex("") {
			other = i
			continue
		}
		fmt.Fprintf(&b, " WHEN p.sex = %s THEN %d", c.b.Text(l), i)
	}
	if other < 0 {
		return "", fmt.Errorf("compile: no catch-all sex label")
	}
	fmt.Fprintf(&b, " ELSE %d END", other)
	return b.String(), nil
}

// imdStratum is the index of a patient's IMD quintile in
// model.IMDQuintileLabels, from the decile.
func (c *compiler) imdStratum() (string, error) {
	labels := model.IMDQuintileLabels
	index := map[string]int{}
	for i, l := range labels {
		index[l] = i
	}
	groups := map[int][]string{}
	for d := 1; d <= 10; d++ {
		i, ok := index[model.IMDQuintile(d, true)]
		if !ok {
			return "", fmt.Errorf("compile: IMD decile %d has no label", d)
		}
		groups[i] = append(groups[i], strconv.Itoa(d))
	}
	var b strings.Builder
	b.WriteString("CASE")
	for i := range labels {
		if g := groups[i]; len(g) > 0 {
			fmt.Fprintf(&b, " WHEN p.imd_decile IN (%s) THEN %d", strings.Join(g, ", "), i)
		}
	}
	fmt.Fprintf(&b, " ELSE %d END", index[model.IMDQuintile(0, false)])
	return b.String(), nil
}

// ageBandStratum is the index of a patient's age band at an anchor, -1
// when the age is unknown.
func (c *compiler) ageBandStratum(at model.Anchor) (string, error) {
	age, err := c.ageColumn(at)
	if err != nil {
		return "", err
	}
	bands := c.plan.Search.AgeBands
	if len(bands) == 0 {
		return "0", nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CASE WHEN %s IS NULL THEN -1", age)
	for i, lo := range bands {
		fmt.Fprintf(&b, " WHEN %s < %s THEN %d", age, c.b.Int(int64(lo)), i)
	}
	fmt.Fprintf(&b, " ELSE %d END", len(bands))
	return b.String(), nil
}

// val is the val CTE: one row per patient with the columns of q.vals.
func (q *measureQuery) val() cte {
	var b strings.Builder
	b.WriteString("SELECT p.patient_id,\n           p.n_rows")
	if q.c.series {
		b.WriteString(",\n           p.point")
	}
	for _, v := range q.vals {
		fmt.Fprintf(&b, ",\n           %s AS %s", v.sql, v.name)
	}
	b.WriteString("\n    FROM pat AS p")
	if q.c.series {
		b.WriteString("\n    JOIN month_ends AS me ON me.point = p.point")
	}
	// Each column once per patient: the final SELECT reads most of them
	// several times (a count and each of its strata cells), and an inlined
	// val would compute them at every read. A long series query (a row per
	// patient and month end) reads it once, row by row.
	return cte{name: "val", body: b.String(), materialized: !q.c.series}
}

// text is the query's text over ctes, and its result columns.
func (q *measureQuery) text(ctes []cte) (string, []string) {
	var b strings.Builder
	b.WriteString(q.c.with(ctes))
	cols := make([]string, 0, len(q.sel))
	b.WriteString("SELECT ")
	sel := b.Len()
	for i, s := range q.sel {
		name := outputName(q.c.plan, q.outs[i])
		cols = append(cols, name)
		if i > 0 {
			b.WriteString(",\n       ")
		}
		fmt.Fprintf(&b, "%s AS %s", s, name)
	}
	if q.c.series {
		b.WriteString(",\n       v.point AS point")
	}
	b.WriteString("\nFROM val AS v")
	if q.c.series {
		b.WriteString("\nGROUP BY v.point\nORDER BY v.point")
	}
	q.c.outside = append(q.c.outside, b.String()[sel:])
	return b.String(), cols
}
