package lang

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/internal/yamlstrict"
	"github.com/nhs-steward/steward/searches/model"
)

// Row values (docs/search-language.md, Row values): min, max and mean of
// the row values, count_distinct of codes or of a codelist category, the
// attribute of the first, last or nth row (of:, nth:), and case/when.

// valueOps are the operations over the row values, which need value:.
var valueOps = map[model.AggOp]bool{model.OpMin: true, model.OpMax: true, model.OpMean: true}

// maxNth is the largest nth: a whole number written in the search.
const maxNth = 1000

// aggOf decodes of: and nth: into a, whose source and value are decoded.
// hasValue says whether the aggregate has value: too.
func (l *loader) aggOf(a *model.Aggregate, m map[string]field, hasValue bool) bool {
	ok := true
	if f, has := m["nth"]; has {
		v, good := l.integer(f.val, "nth")
		switch {
		case !good:
			ok = false
		case a.Op != model.OpFirst && a.Op != model.OpLast:
			l.add(l.pos(f.key), "remove nth:, or use first or last", "nth applies only to first and last")
			ok = false
		case v < 1 || v > maxNth:
			l.add(l.pos(f.val), "write a whole number from 1 (the first or last row) to 1000", "nth must be between 1 and %d, not %d", maxNth, v)
			ok = false
		}
		a.Nth = v
	}
	if a.Op == model.OpCountDistinct {
		a.Of = model.Attr{Kind: model.AttrCode}
	}
	f, has := m["of"]
	if !has {
		return ok
	}
	s, good := l.text(f.val, "of")
	if !good {
		return false
	}
	s = strings.TrimSpace(s)
	switch a.Op {
	case model.OpCountDistinct:
		if s == "code" {
			return ok
		}
		if a.Codelist == nil {
			return false
		}
		cat := a.Codelist.Category(s)
		if cat == nil {
			names := []string{"code"}
			for _, c := range a.Codelist.Categories {
				names = append(names, c.Name)
			}
			l.add(l.pos(f.val), yamlstrict.Suggest(s, names, "count code, or declare the category under the codelist's categories:"), "codelist %s has no category %q", a.Codelist.Name, s)
			return false
		}
		a.Of = model.Attr{Kind: model.AttrCategory, Category: cat}
		return ok
	case model.OpFirst, model.OpLast:
	default:
		l.add(l.pos(f.key), "remove of:; it applies to first, last and count_distinct", "%s has no of:", a.Op)
		return false
	}
	if s == "date" {
		return ok
	}
	if hasValue {
		l.add(l.pos(f.key), "remove value: (of: names the row value, and rows: tests it)", "write either of: or value:, not both")
		return false
	}
	if ref := l.refs[s]; ref != nil {
		if a.Source != model.Issues {
			l.add(l.pos(f.val), "a reference gives a value per dm+d product: use it with issues", "of: %s reads a reference, and events have none", s)
			return false
		}
		a.Of = model.Attr{Kind: model.AttrRef, Ref: ref}
		return ok
	}
	switch s {
	case "code":
		// The code itself: text, for a worklist column.
		a.Of = model.Attr{Kind: model.AttrCode}
		return ok
	case "quantity", "numeric_value":
	default:
		if !strings.Contains(s, "*") {
			l.add(l.pos(f.val), yamlstrict.Suggest(s, append([]string{"date", "code", "quantity", "numeric_value"}, l.referenceNames()...), "write date, code, quantity, quantity * <reference>, <reference> or numeric_value"), "unknown row attribute %q", s)
			return false
		}
	}
	if !l.rowValue(a, f.val) {
		return false
	}
	a.Of = model.Attr{Kind: model.AttrValue}
	return ok
}

// caseExpr decodes case: [{when: <boolean>, then: <value>}, ..., {else: <value>}].
func (l *loader) caseExpr(key, n *yaml.Node, what string) model.Expr {
	const fix = "write case: as a list of {when: <boolean>, then: <value>}, optionally ending with {else: <value>}"
	items, ok := l.list(n, what+" case")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		l.add(l.pos(n), fix, "%s: case has no branches", what)
		return nil
	}
	c := &model.Case{P: l.pos(key)}
	var typeAt *yaml.Node
	check := func(v *yaml.Node, e model.Expr) bool {
		if e == nil {
			return false
		}
		t := e.Type()
		if t == model.Bool {
			l.add(l.pos(v), "give a number or a date; a yes/no is an expression with and, or and not", "%s: a case value must be a number or a date, not a boolean", what)
			return false
		}
		if c.T == 0 {
			c.T, typeAt = t, v
			return true
		}
		if t != c.T {
			l.add(l.pos(v), "give every branch the same type", "%s: this case value is %s, but the one at line %d is %s", what, article(t), typeAt.Line, article(c.T))
			return false
		}
		return true
	}
	good := true
	for i, item := range items {
		m, _ := l.fields(item, what+" case branch", "when", "then", "else")
		if m == nil {
			good = false
			continue
		}
		if e, has := m["else"]; has {
			if len(m) > 1 || i != len(items)-1 {
				l.add(l.pos(e.key), fix, "%s: else is a branch of its own, and the last one", what)
				good = false
				continue
			}
			x := l.expr(e.val, what+" else", 0)
			if !check(e.val, x) {
				good = false
				continue
			}
			c.Else = x
			continue
		}
		w, hasW := l.required(m, item, what+" case branch", "when", fix)
		t, hasT := l.required(m, item, what+" case branch", "then", fix)
		if !hasW || !hasT {
			good = false
			continue
		}
		cond := l.expr(w.val, what+" when", model.Bool)
		val := l.expr(t.val, what+" then", 0)
		if cond == nil || !check(t.val, val) {
			good = false
			continue
		}
		c.Whens = append(c.Whens, model.CaseWhen{When: cond, Then: val})
	}
	if !good {
		return nil
	}
	if len(c.Whens) == 0 {
		l.add(l.pos(n), fix, "%s: case needs at least one when", what)
		return nil
	}
	return c
}

// rowCompareOps are the comparisons of a row condition, as expressions
// write them.
var rowCompareOps = []string{"<", "<=", ">", ">=", "=", "!=", "between"}

const rowsFix = `write rows: {<column>: {"<op>": <number>}}, e.g. rows: {quantity: {">": 100}} or rows: {numeric_value: {between: [4, 6]}}`

// rowConds decodes rows: as a mapping from a row's columns to comparisons,
// rows: {quantity: {">": 100}, ome: {between: [5, 10]}}: a row is read
// when every comparison holds. The conditions are kept sorted, so the
// aggregate's key does not depend on the order they are written in.
func (l *loader) rowConds(a *model.Aggregate, f field) bool {
	pairs := l.pairs(f.val, "rows")
	if len(pairs) == 0 {
		if len(f.val.Content) == 0 {
			l.add(l.pos(f.val), rowsFix+", or remove rows:", "rows: {} compares nothing")
		}
		return false
	}
	ok := true
	var conds []model.RowCond
	for _, p := range pairs {
		col, good := l.rowColumn(a, p.key)
		if !good {
			ok = false
			continue
		}
		cs, good := l.rowComparison(col, p.key.Value, p.val)
		if !good {
			ok = false
			continue
		}
		conds = append(conds, cs...)
	}
	if !ok {
		return false
	}
	sort.SliceStable(conds, func(i, j int) bool { return conds[i].String() < conds[j].String() })
	a.Where = conds
	return true
}

// rowColumn decodes the column a row condition compares: quantity or a
// reference's value per unit for issues, numeric_value for events.
func (l *loader) rowColumn(a *model.Aggregate, key *yaml.Node) (model.RowCond, bool) {
	name := strings.TrimSpace(key.Value)
	columns := "quantity or a reference (issues), numeric_value (events)"
	if ref := l.refs[name]; ref != nil {
		if a.Source != model.Issues {
			l.add(l.pos(key), "a reference gives a value per dm+d product: compare it on issues; events have numeric_value", "rows: %s compares a reference, and events have none", name)
			return model.RowCond{}, false
		}
		return model.RowCond{Col: model.ColRef, Ref: ref}, true
	}
	switch {
	case name == "quantity":
		if a.Source != model.Issues {
			l.add(l.pos(key), `events have numeric_value: rows: {numeric_value: {">=": 7}}`, "quantity is a column of issues, not events")
			return model.RowCond{}, false
		}
		return model.RowCond{Col: model.ColQuantity}, true
	case name == "numeric_value":
		if a.Source != model.Events {
			l.add(l.pos(key), `issues have quantity and the values of references: rows: {quantity: {">": 100}}`, "numeric_value is a column of events, not issues")
			return model.RowCond{}, false
		}
		return model.RowCond{Col: model.ColNumericValue}, true
	case name == "value":
		fix := "name the column: " + columns
		switch a.Value {
		case model.ValueQuantity, model.ValueQuantityRef:
			fix = "name the column, e.g. quantity: {...} for the issue's quantity"
		case model.ValueNumericValue:
			fix = "name the column: numeric_value: {...}"
		}
		l.add(l.pos(key), fix, "rows: compares a row's columns by name, not value")
		return model.RowCond{}, false
	case strings.Contains(name, "*"):
		l.add(l.pos(key), "compare the quantity and the reference each, or compare the aggregate's result (max: {..., value: quantity * <reference>} >= N)",
			"rows: compares a row's own columns, not the product %q", name)
		return model.RowCond{}, false
	case name == "date" || name == "code":
		l.add(l.pos(key), "window: chooses the rows' dates and the codelist their codes; rows: compares "+columns, "rows: cannot compare the %s", name)
		return model.RowCond{}, false
	}
	names := append([]string{"quantity", "numeric_value"}, l.referenceNames()...)
	l.add(l.pos(key), yamlstrict.Suggest(name, names, "compare "+columns), "unknown row column %q", name)
	return model.RowCond{}, false
}

// rowComparison decodes {"<op>": <number>, ...} or {between: [lo, hi]}
// for the column of c; between is >= lo and <= hi.
func (l *loader) rowComparison(c model.RowCond, col string, n *yaml.Node) ([]model.RowCond, bool) {
	if n.Kind != yaml.MappingNode {
		l.add(l.pos(n), fmt.Sprintf(`write a comparison, e.g. %s: {">=": 7} (quote the operator)`, col), "rows: %s must be a mapping of comparisons, not %s", col, yamlstrict.Describe(n))
		return nil, false
	}
	pairs := l.pairs(n, "rows: "+col)
	if len(pairs) == 0 {
		l.add(l.pos(n), rowsFix, "rows: %s has no comparison", col)
		return nil, false
	}
	ok := true
	var out []model.RowCond
	for _, p := range pairs {
		op := p.key.Value
		what := "rows: " + col + " " + op
		switch {
		case op == "between":
			items, good := l.list(p.val, what)
			if !good {
				ok = false
				continue
			}
			if len(items) != 2 {
				l.add(l.pos(p.val), "write between: [<least>, <greatest>], both included", "%s needs 2 numbers, not %d", what, len(items))
				ok = false
				continue
			}
			lo, good1 := l.rowOperand(items[0], what)
			hi, good2 := l.rowOperand(items[1], what)
			if !good1 || !good2 {
				ok = false
				continue
			}
			if x, isLit := lo.(*model.NumberLit); isLit {
				if y, isLit := hi.(*model.NumberLit); isLit && x.Value > y.Value {
					l.add(l.pos(p.val), "write the least first: between includes both ends", "%s [%s, %s] matches no value", what, items[0].Value, items[1].Value)
					ok = false
					continue
				}
			}
			lc, hc := c, c
			lc.Op, lc.Value = ">=", lo
			hc.Op, hc.Value = "<=", hi
			out = append(out, lc, hc)
		case slices.Contains(rowCompareOps, op):
			v, good := l.rowOperand(p.val, what)
			if !good {
				ok = false
				continue
			}
			x := c
			x.Op, x.Value = op, v
			out = append(out, x)
		case op == "==":
			l.add(l.pos(p.key), `write "=" to test equality, as in expressions`, "unknown comparison %q in rows: %s", op, col)
			ok = false
		default:
			l.add(l.pos(p.key), yamlstrict.Suggest(op, rowCompareOps, `use one of <, <=, >, >=, =, != (quoted) or between`), "unknown comparison %q in rows: %s", op, col)
			ok = false
		}
	}
	return out, ok
}

// rowOperand decodes the number a row's column is compared with: a
// literal, or a parameter (params.NAME), which is the same for every row
// of a run. Expressions and per-patient values are not allowed.
func (l *loader) rowOperand(n *yaml.Node, what string) (model.Expr, bool) {
	const fix = "write a number, or a parameter as params.NAME: a row's column is compared with a value that is the same for every row"
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float") {
		v, ok := l.number(n, what)
		if !ok {
			return nil, false
		}
		return &model.NumberLit{Value: v, P: l.pos(n)}, true
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		s := strings.TrimSpace(n.Value)
		quoted := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
		if name, isParam := strings.CutPrefix(s, "params."); isParam && !quoted && identRE.MatchString(name) {
			if p := l.params[name]; p != nil {
				return &model.ParamRef{Param: p, P: l.pos(n)}, true
			}
			if !l.broken["params."+name] {
				names := make([]string, 0, len(l.s.Parameters))
				for _, p := range l.s.Parameters {
					names = append(names, p.Name)
				}
				l.add(l.scalarPos(n, len("params.")), yamlstrict.Suggest(name, names, "define it under parameters: with a default"), "undefined parameter %q", name)
			}
			return nil, false
		}
		if quoted && decimalRE.MatchString(s) {
			l.add(l.pos(n), "remove the quotes", "%s must be a number, not the text %q", what, n.Value)
			return nil, false
		}
		l.add(l.pos(n), fix, "%s must be a number or params.NAME, not the text %q", what, n.Value)
		return nil, false
	}
	l.add(l.pos(n), fix, "%s must be a number or params.NAME, not %s", what, yamlstrict.Describe(n))
	return nil, false
}
