package compile

import (
	"fmt"
	"strings"

	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
)

// Row values: min, max, mean and count_distinct are columns of the source
// pass like every other aggregate; a first or last reading an attribute of
// the row, or the nth row, is a CTE of its own that ranks the rows of each
// patient with ROW_NUMBER and keeps the nth. Queries without row values
// compile exactly as before.

func init() {
	aggregateOps[model.OpMin] = (*compiler).opMinMax
	aggregateOps[model.OpMax] = (*compiler).opMinMax
	aggregateOps[model.OpMean] = (*compiler).opMean
	aggregateOps[model.OpCountDistinct] = (*compiler).opCountDistinct
}

// catRefName is the name a category is registered under among the
// reference tables: its values numbered 1.. (model.Category.IDs). Names of
// the search cannot contain a space.
func catRefName(cat *model.Category, list string) string {
	return "category " + list + "." + cat.Name
}

// extraRef is the reference table an aggregate's of: reads, if any: the
// name it is registered under and its values.
func extraRef(a *model.Aggregate) (string, map[string]float64, bool) {
	switch a.Of.Kind {
	case model.AttrRef:
		return a.Of.Ref.Name, a.Of.Ref.Values, true
	case model.AttrCategory:
		return catRefName(a.Of.Category, a.Codelist.Name), a.Of.Category.IDs(), true
	}
	return "", nil, false
}

// registerExtraRef gives the references an aggregate's of: and its rows:
// conditions read an id.
func (c *compiler) registerExtraRef(a *model.Aggregate) {
	add := func(name string, values map[string]float64) {
		if _, seen := c.refs[name]; !seen {
			c.refs[name] = len(c.refRows)
			c.refRows = append(c.refRows, values)
		}
	}
	if name, values, ok := extraRef(a); ok {
		add(name, values)
	}
	for _, w := range a.Where {
		if w.Col == model.ColRef {
			add(w.Ref.Name, w.Ref.Values)
		}
	}
}

// extraRefIDs are the ids of the references an aggregate's of: and rows:
// conditions read.
func (c *compiler) extraRefIDs(a *model.Aggregate) []int {
	var out []int
	if r := c.extraRefID(a); r >= 0 {
		out = append(out, r)
	}
	for _, w := range a.Where {
		if w.Col == model.ColRef {
			out = append(out, c.refs[w.Ref.Name])
		}
	}
	return out
}

// rowConds is the SQL of an aggregate's rows: conditions on the row of
// alias. An unknown column (a NULL or non-positive quantity, a NULL
// numeric value, a code missing from the reference) makes the comparison
// NULL or false, so the row is not read; columns compare as double
// precision, as the reference evaluator compares them.
func (c *compiler) rowConds(a *model.Aggregate, alias string) ([]string, error) {
	var out []string
	for _, w := range a.Where {
		var col string
		switch w.Col {
		case model.ColQuantity:
			if a.Source != model.Issues {
				return nil, fmt.Errorf("compile: %s: quantity is a column of issues", a.P)
			}
			out = append(out, alias+".quantity > 0")
			col = c.d.Float(alias + ".quantity")
		case model.ColNumericValue:
			if a.Source != model.Events {
				return nil, fmt.Errorf("compile: %s: numeric_value is a column of events", a.P)
			}
			col = c.d.Float(alias + ".numeric_value")
		case model.ColRef:
			id, ok := c.refs[w.Ref.Name]
			if !ok {
				return nil, fmt.Errorf("compile: %s: reference %s is not registered", a.P, w.Ref.Name)
			}
			col = c.d.Float(fmt.Sprintf("c.r%d", id))
		default:
			return nil, fmt.Errorf("compile: %s: unknown row column %d", a.P, w.Col)
		}
		var v string
		switch x := w.Value.(type) {
		case *model.NumberLit:
			v = c.b.Number(x.Value)
		case *model.ParamRef:
			v = c.param(x)
		default:
			return nil, fmt.Errorf("compile: %s: rows: compares with a number or a parameter, not %T", a.P, w.Value)
		}
		op := w.Op
		switch op {
		case "!=":
			op = "<>"
		case "<", "<=", ">", ">=", "=":
		default:
			return nil, fmt.Errorf("compile: %s: unknown comparison %q", a.P, w.Op)
		}
		out = append(out, col+" "+op+" "+v)
	}
	return out, nil
}

// extraRefID is the id of the reference an aggregate's of: reads, or -1.
func (c *compiler) extraRefID(a *model.Aggregate) int {
	name, _, ok := extraRef(a)
	if !ok {
		return -1
	}
	return c.refs[name]
}

// opMinMax is the least or greatest known row value.
func (c *compiler) opMinMax(p *pass, t *term) error {
	a := t.ac.agg
	if t.value == "" {
		return fmt.Errorf("compile: %s: %s without a value", a.P, a.Op)
	}
	fn := "MIN"
	if a.Op == model.OpMax {
		fn = "MAX"
	}
	p.column(c.d.Round(c.d.Float(fn+"(CASE WHEN "+c.cond(p, t, t.from, t.to, t.hasFrom)+" THEN "+t.value+" END)"), engine.RoundSum), t.ac.name)
	p.patColumn(t, false)
	return nil
}

// opMean is the sum of the known row values over their number.
func (c *compiler) opMean(p *pass, t *term) error {
	a := t.ac.agg
	if t.value == "" {
		return fmt.Errorf("compile: %s: mean without a value", a.P)
	}
	cond := c.cond(p, t, t.from, t.to, t.hasFrom)
	mean := fmt.Sprintf("SUM(CASE WHEN %s THEN %s END) / NULLIF(%s, 0)", cond, t.value,
		c.d.Float(fmt.Sprintf("COUNT(CASE WHEN %s THEN %s END)", cond, t.value)))
	p.column(c.d.Round(c.d.Float(mean), engine.RoundSum), t.ac.name)
	p.patColumn(t, false)
	return nil
}

// opCountDistinct counts the distinct codes, or category values, of the
// rows; a code without a category is not counted.
func (c *compiler) opCountDistinct(p *pass, t *term) error {
	a := t.ac.agg
	what := p.s.alias + "." + p.s.codeCol
	if a.Of.Kind == model.AttrCategory {
		what = fmt.Sprintf("c.r%d", c.extraRefID(a))
	}
	p.column("COUNT(DISTINCT CASE WHEN "+c.cond(p, t, t.from, t.to, t.hasFrom)+" THEN "+what+" END)", t.ac.name)
	p.patColumn(t, true)
	return nil
}

// rankedCTE is the CTE of a first or last reading an attribute, or an nth
// row: the attribute of each patient's nth row in date order (first) or
// reverse date order (last), ties broken by code and then the stored
// quantity or numeric value, a missing one first (as the reference
// evaluator does).
func (c *compiler) rankedCTE(s source, frag string, ac *aggCol, pat *patInputs) (cte, error) {
	a := ac.agg
	p := &pass{s: s, col: s.alias + "." + s.dateCol, pat: pat}
	t, err := c.term(p, ac)
	if err != nil {
		return cte{}, err
	}
	var attr string
	switch a.Of.Kind {
	case model.AttrDate:
		attr = p.col
	case model.AttrValue:
		if t.value == "" {
			return cte{}, fmt.Errorf("compile: %s: of a value without a value", a.P)
		}
		attr = c.d.Round(c.d.Float(t.value), engine.RoundSum)
	case model.AttrRef:
		attr = c.d.Round(c.d.Float(fmt.Sprintf("c.r%d", c.extraRefID(a))), engine.RoundSum)
	case model.AttrCode:
		attr = s.alias + "." + s.codeCol
	default:
		return cte{}, fmt.Errorf("compile: %s: %s cannot read %s", a.P, a.Op, a.Of)
	}
	raw := s.alias + ".quantity"
	if s.src == model.Events {
		raw = s.alias + ".numeric_value"
	}
	dir := "ASC"
	if a.Op == model.OpLast {
		dir = "DESC"
	}
	order := strings.Join([]string{
		p.col + " " + dir,
		s.alias + "." + s.codeCol + " " + dir,
		"CASE WHEN " + raw + " IS NULL THEN 0 ELSE 1 END " + dir,
		raw + " " + dir,
	}, ", ")
	date := c.d.Unindexed(p.col)
	var b strings.Builder
	if c.series {
		// A series ranks each patient's rows at every month end (series.go).
		fmt.Fprintf(&b, "SELECT q.patient_id, q.point, q.v AS %s\n    FROM (SELECT %s.patient_id,\n                 me.point,\n                 %s AS v,\n                 ROW_NUMBER() OVER (PARTITION BY %s.patient_id, me.point ORDER BY %s) AS rn",
			ac.name, s.alias, attr, s.alias, order)
		fmt.Fprintf(&b, "\n          FROM (%s) AS %s\n          JOIN %s AS c ON c.code = %s.%s\n          CROSS JOIN month_ends AS me\n          WHERE %s <= %s AND %s) AS q\n    WHERE q.rn = %s",
			indent(frag, "                "), s.alias, s.codes, s.alias, s.codeCol, date, c.b.Date(c.opts.Dates.AsOf),
			c.cond(p, t, t.from, t.to, t.hasFrom), c.b.Int(int64(a.NthOr1())))
	} else {
		fmt.Fprintf(&b, "SELECT q.patient_id, q.v AS %s\n    FROM (SELECT %s.patient_id,\n                 %s AS v,\n                 ROW_NUMBER() OVER (PARTITION BY %s.patient_id ORDER BY %s) AS rn",
			ac.name, s.alias, attr, s.alias, order)
		fmt.Fprintf(&b, "\n          FROM (%s) AS %s\n          JOIN %s AS c ON c.code = %s.%s\n          WHERE %s <= %s AND %s) AS q\n    WHERE q.rn = %s",
			indent(frag, "                "), s.alias, s.codes, s.alias, s.codeCol, date, c.b.Date(c.opts.Dates.AsOf),
			c.cond(p, t, t.from, t.to, t.hasFrom), c.b.Int(int64(a.NthOr1())))
	}
	name := s.cte + "_" + ac.name
	alias := "k" + ac.name
	join := fmt.Sprintf("LEFT JOIN %s AS %s ON %s.patient_id = r.patient_id", name, alias, alias)
	if c.series {
		join += fmt.Sprintf(" AND %s.point = r.point", alias)
	}
	pat.joins = append(pat.joins, join)
	pat.cols = append(pat.cols, alias+"."+ac.name+" AS "+ac.name)
	return cte{name: name, body: b.String()}, nil
}

// caseExpr compiles case/when to a CASE expression.
func (c *compiler) caseExpr(e *model.Case) (string, error) {
	var b strings.Builder
	b.WriteString("CASE")
	for _, w := range e.Whens {
		cond, err := c.pred(w.When)
		if err != nil {
			return "", err
		}
		then, err := c.expr(w.Then)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, " WHEN %s THEN %s", cond, then)
	}
	if e.Else != nil {
		x, err := c.expr(e.Else)
		if err != nil {
			return "", err
		}
		b.WriteString(" ELSE " + x)
	}
	b.WriteString(" END")
	return b.String(), nil
}

// stratumCol returns the val column holding each patient's cell index in
// one of m's stratifications: a built-in dimension's, or for a variable or
// a crossed pair the index in m.Labels (for a pair, the first part's index
// times the second part's number of labels plus the second's).
func (q *measureQuery) stratumCol(m *model.PlannedMeasure, dim model.Dimension, at model.Anchor) (string, error) {
	st := m.Stratification(dim)
	if st == nil {
		return q.stratum(dim, at)
	}
	at = anchorOf(at)
	exprs := m.StrataExprs[dim]
	if len(exprs) != len(st.Parts) {
		return "", fmt.Errorf("compile: stratification %s is not resolved", dim)
	}
	var keyB strings.Builder
	keyB.WriteString(string(dim) + "@" + anchorName(at))
	for _, e := range exprs {
		if e != nil {
			keyB.WriteString(";" + model.Key(e))
		}
	}
	key := keyB.String()
	if n, ok := q.strata[key]; ok {
		return n, nil
	}
	bands := q.c.plan.Search.AgeBands
	sql := ""
	for i, part := range st.Parts {
		var idx string
		if part.Var == nil {
			col, err := q.stratum(part.Builtin, at)
			if err != nil {
				return "", err
			}
			idx = "v." + col
			// The built-in's own column is in val too: compute it here
			// from its SQL instead, as val's columns cannot refer to one
			// another.
			for _, vc := range q.vals {
				if vc.name == col {
					idx = "(" + vc.sql + ")"
				}
			}
		} else {
			x, err := q.c.varIndex(part, exprs[i])
			if err != nil {
				return "", err
			}
			idx = x
		}
		if i == 0 {
			sql = idx
			continue
		}
		sql = fmt.Sprintf("(%s) * %d + %s", sql, len(part.Labels(bands)), idx)
	}
	n := fmt.Sprintf("s_x%d", len(q.vals))
	q.vals = append(q.vals, valCol{n, sql})
	q.strata[key] = n
	return n, nil
}

// varIndex is the index of a variable's value among its part's labels.
func (c *compiler) varIndex(part model.StrataPart, e model.Expr) (string, error) {
	if part.Var.Expr.Type() == model.Bool {
		p, err := c.pred(e)
		if err != nil {
			return "", err
		}
		return "CASE WHEN " + p + " THEN 0 ELSE 1 END", nil
	}
	x, err := c.expr(e)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("CASE")
	for i, v := range part.Values {
		fmt.Fprintf(&b, " WHEN %s = %s THEN %d", x, c.b.Number(v), i)
	}
	fmt.Fprintf(&b, " ELSE %d END", len(part.Values))
	return b.String(), nil
}
