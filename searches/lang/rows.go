package lang

import (
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
		l.add(l.pos(f.val), "write of: date, quantity, quantity * <reference>, <reference> or numeric_value; count codes with count_distinct", "of: code applies only to count_distinct")
		return false
	case "quantity", "numeric_value":
	default:
		if !strings.Contains(s, "*") {
			l.add(l.pos(f.val), yamlstrict.Suggest(s, append([]string{"date", "quantity", "numeric_value"}, l.referenceNames()...), "write date, quantity, quantity * <reference>, <reference> or numeric_value"), "unknown row attribute %q", s)
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
