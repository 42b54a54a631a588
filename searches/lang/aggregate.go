package lang

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/internal/yamlstrict"
	"github.com/nhs-steward/steward/searches/model"
)

var aggOps = []string{"exists", "count", "sum", "first", "last", "each_month", "min", "max", "mean", "count_distinct"}

var aggKeys = []string{"issues", "events", "window", "value", "rows", "per_day", "of", "nth"}

const valueFix = "issues: value: quantity or value: quantity * <reference>; events: value: numeric_value"

// aggregate decodes a variable written as {op: {issues|events: ..., window: ...}}.
func (l *loader) aggregate(n *yaml.Node, what string) model.Expr {
	pairs := l.pairs(n, what)
	if len(pairs) == 0 {
		if len(n.Content) == 0 {
			l.add(l.pos(n), "write one of "+strings.Join(aggOps, ", ")+", e.g. exists: {issues: opioids, window: {months: 3}}", "%s is an empty mapping", what)
		}
		return nil
	}
	if len(pairs) > 1 {
		l.add(l.pos(pairs[1].key), "define one variable per aggregate and combine them in an expression", "an aggregate has exactly one operation, but %s has %s and %s", what, pairs[0].key.Value, pairs[1].key.Value)
		return nil
	}
	opKey, body := pairs[0].key, pairs[0].val
	if opKey.Value == "case" {
		return l.caseExpr(opKey, body, what)
	}
	op := model.AggOp(opKey.Value)
	if !slices.Contains(aggOps, opKey.Value) {
		l.add(l.pos(opKey), yamlstrict.Suggest(opKey.Value, aggOps, "use one of "+strings.Join(aggOps, ", ")), "unknown aggregate operation %q", opKey.Value)
		return nil
	}
	what = fmt.Sprintf("%s (%s)", what, op)
	m, _ := l.fields(body, "an aggregate", aggKeys...)
	if m == nil {
		return nil
	}
	a := &model.Aggregate{Op: op, P: l.pos(opKey)}
	ok := true

	// Source and codelist.
	issues, hasIssues := m["issues"]
	events, hasEvents := m["events"]
	var src field
	switch {
	case hasIssues && hasEvents:
		l.add(l.pos(events.key), "an aggregate reads one table: define a variable for each and combine them", "an aggregate reads issues or events, not both")
		ok = false
	case hasIssues:
		a.Source, src = model.Issues, issues
	case hasEvents:
		a.Source, src = model.Events, events
	default:
		l.add(l.pos(body), "add issues: <codelist> (medication issues) or events: <codelist> (clinical events)", "%s needs issues: or events:", what)
		ok = false
	}
	if src.val != nil {
		if name, good := l.text(src.val, string(a.Source)); !good {
			ok = false
		} else if cl := l.codelists[name]; cl != nil {
			a.Codelist = cl
		} else {
			ok = false
			if !l.broken["codelist "+name] {
				l.add(l.pos(src.val), yamlstrict.Suggest(name, l.codelistNames(), "define it under codelists:"), "undefined codelist %q", name)
			}
		}
	}

	// Window.
	if f, has := l.required(m, body, what, "window", "add window: {months: N}, {days: N}, ever or {after: baseline}"); has {
		w, good := l.window(f.val)
		a.Window = w
		ok = ok && good
		if good && op == model.OpEachMonth && w.Kind != model.WindowMonths {
			l.add(l.pos(f.val), "give it a months window, e.g. window: {months: 3}", "each_month needs a {months: N} window: it looks for a row in each calendar month")
			ok = false
		}
	} else {
		ok = false
	}

	// Row value.
	valueField, hasValue := m["value"]
	if hasValue {
		if !l.rowValue(a, valueField.val) {
			ok = false
		}
	}
	if !l.aggOf(a, m, hasValue) {
		ok = false
	}
	valueFromOf := a.Of.Kind == model.AttrValue && !hasValue
	if f, has := m["rows"]; has {
		if s, good := l.text(f.val, "rows"); !good {
			ok = false
		} else {
			switch s {
			case "all":
				a.Filter = model.RowsAll
			case "value_known":
				a.Filter = model.RowsValueKnown
			case "value_unknown":
				a.Filter = model.RowsValueUnknown
			default:
				l.add(l.pos(f.val), yamlstrict.Suggest(s, []string{"all", "value_known", "value_unknown"}, "use all, value_known or value_unknown"), "unknown rows: %q", s)
				ok = false
			}
			if a.Filter != model.RowsAll && !hasValue && !valueFromOf {
				l.add(l.pos(f.key), "add the value it tests, e.g. value: quantity * ome", "rows: %s needs value: (whether a row's value is known depends on which value)", s)
				ok = false
			}
		}
	}
	if op == model.OpSum && !hasValue {
		l.add(l.pos(opKey), "add value: with the row value to add up ("+valueFix+")", "sum needs value:")
		ok = false
	}
	if valueOps[op] && !hasValue {
		l.add(l.pos(opKey), "add value: with the row value it reads ("+valueFix+")", "%s needs value:", op)
		ok = false
	}
	if hasValue && op != model.OpSum && !valueOps[op] {
		if _, hasRows := m["rows"]; !hasRows {
			l.add(l.pos(valueField.key), "remove value:, or add rows: value_known or rows: value_unknown", "value: is used only by sum or with rows:, and %s has neither", what)
			ok = false
		}
	}

	// per_day.
	if f, has := m["per_day"]; has {
		v, good := l.boolean(f.val, "per_day")
		switch {
		case !good:
			ok = false
		case v && op != model.OpSum:
			l.add(l.pos(f.key), "remove per_day, or make the aggregate a sum", "per_day applies only to sum")
			ok = false
		case v && a.Window.Kind == model.WindowEver:
			l.add(l.pos(f.key), "use a {months: N} or {days: N} window", "per_day needs a months or days window: an ever window has no fixed number of days")
			ok = false
		case v && a.Window.Kind == model.WindowBetween:
			l.add(l.pos(f.key), "use a {months: N} or {days: N} window", "per_day needs a months or days window, not after: baseline")
			ok = false
		}
		a.PerDay = v
	}
	if !ok {
		return nil
	}
	return a
}

func (l *loader) codelistNames() []string {
	out := make([]string, 0, len(l.s.Codelists))
	for _, c := range l.s.Codelists {
		out = append(out, c.Name)
	}
	return out
}

func (l *loader) referenceNames() []string {
	out := make([]string, 0, len(l.s.References))
	for _, r := range l.s.References {
		out = append(out, r.Name)
	}
	return out
}

// rowValue decodes value: quantity, quantity * <reference> or numeric_value.
func (l *loader) rowValue(a *model.Aggregate, n *yaml.Node) bool {
	s, ok := l.text(n, "value")
	if !ok {
		return false
	}
	parts := strings.Fields(strings.ReplaceAll(s, "*", " * "))
	switch {
	case len(parts) == 1 && parts[0] == "quantity":
		a.Value = model.ValueQuantity
	case len(parts) == 1 && parts[0] == "numeric_value":
		a.Value = model.ValueNumericValue
	case len(parts) == 3 && parts[0] == "quantity" && parts[1] == "*":
		a.Value = model.ValueQuantityRef
		ref := l.refs[parts[2]]
		if ref == nil {
			if !l.broken["reference "+parts[2]] {
				off := strings.LastIndex(s, parts[2])
				l.add(l.scalarPos(n, off), yamlstrict.Suggest(parts[2], l.referenceNames(), "define it under references:"), "undefined reference %q", parts[2])
			}
			return false
		}
		a.Ref = ref
	case len(parts) == 3 && parts[2] == "quantity" && parts[1] == "*":
		l.add(l.pos(n), "write value: quantity * "+parts[0], "the row value is written quantity * <reference>")
		return false
	default:
		l.add(l.pos(n), valueFix, "unknown row value %q", s)
		return false
	}
	switch {
	case a.Source == model.Issues && a.Value == model.ValueNumericValue:
		l.add(l.pos(n), "issues have value: quantity or quantity * <reference>", "numeric_value is a column of events, not issues")
		return false
	case a.Source == model.Events && a.Value != model.ValueNumericValue:
		l.add(l.pos(n), "events have value: numeric_value", "quantity is a column of issues, not events")
		return false
	}
	return true
}

var windowKeys = []string{"months", "days", "ever", "after", "ending"}

const windowFix = "write {months: N}, {days: N}, ever or {after: baseline}"

// runDate decodes a window's ending: a date fixed for the run, such as
// as_of - 6 months, baseline, date("2024-03-31") or a bare YAML date.
func (l *loader) runDate(n *yaml.Node, s string) (*model.RunDate, bool) {
	const fix = `end it at as_of, baseline or date("YYYY-MM-DD"), shifted by days, months or years, e.g. ending: as_of - 6 months`
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return &model.RunDate{Lit: t, IsLit: true, P: l.pos(n)}, true
	}
	a, serr := parseExpr(s)
	if serr != nil {
		l.add(l.scalarPos(n, serr.off), serr.fix, "ending: %s", serr.msg)
		return nil, false
	}
	c := &checker{l: l, n: n, src: s}
	x, t := c.check(a)
	if x == nil {
		return nil, false
	}
	rd, ok := x.(*model.RunDate)
	if !ok {
		what := "a per-patient " + t.String()
		if t == model.Date {
			what = "a date that differs between patients"
		}
		l.add(l.pos(n), fix+" (windows are the same for every patient)", "a window cannot end at %s: %s is %s", s, s, what)
		return nil, false
	}
	return rd, true
}

// window decodes a window: ever, {months: N}, {days: N}, {ever: true},
// {after: baseline}, with an optional ending: as_of | baseline.
func (l *loader) window(n *yaml.Node) (model.Window, bool) {
	w := model.Window{End: model.AnchorCurrent}
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		if n.Value == "ever" {
			w.Kind = model.WindowEver
			return w, true
		}
		l.add(l.pos(n), windowFix, "unknown window %q", n.Value)
		return w, false
	}
	m, order := l.fields(n, "a window", windowKeys...)
	if m == nil {
		return w, false
	}
	var kinds []field
	for _, f := range order {
		if f.key.Value != "ending" {
			kinds = append(kinds, f)
		}
	}
	switch len(kinds) {
	case 0:
		l.add(l.pos(n), windowFix, "a window needs one of months, days, ever or after")
		return w, false
	case 1:
	default:
		l.add(l.pos(kinds[1].key), "keep one of them", "a window has one of months, days, ever or after, but this one has %s and %s", kinds[0].key.Value, kinds[1].key.Value)
		return w, false
	}
	k := kinds[0]
	ok := true
	switch k.key.Value {
	case "months", "days":
		if k.val.Kind == yaml.ScalarNode && k.val.Tag == "!!str" && k.val.Style == 0 && !decimalRE.MatchString(k.val.Value) {
			// Most often params.NAME: a window's size is part of what the
			// search means, fixed when the pack is signed.
			l.add(l.pos(k.val), fmt.Sprintf("write the number of %s, e.g. %s: 3; to offer a choice, publish a search for each size", k.key.Value, k.key.Value),
				"window %s must be a whole number written here, not %s: window sizes cannot be parameters or expressions", k.key.Value, k.val.Value)
			ok = false
			break
		}
		v, good := l.integer(k.val, "window "+k.key.Value)
		switch {
		case !good:
			ok = false
		case v < 1 || v > 1200:
			l.add(l.pos(k.val), "write a whole number from 1 to 1200", "window %s must be between 1 and 1200, not %d", k.key.Value, v)
			ok = false
		}
		w.N = v
		w.Kind = model.WindowMonths
		if k.key.Value == "days" {
			w.Kind = model.WindowDays
		}
	case "ever":
		v, good := l.boolean(k.val, "window ever")
		if good && !v {
			l.add(l.pos(k.val), "write ever: true, or just window: ever", "ever: false is not a window")
		}
		ok = good && v
		w.Kind = model.WindowEver
	case "after":
		s, good := l.text(k.val, "window after")
		if good && s != "baseline" {
			l.add(l.pos(k.val), "write {after: baseline}", "a window can only start after baseline, not %q", s)
			good = false
		}
		ok = good
		w.Kind = model.WindowBetween
		w.Start = model.AnchorBaseline
	}
	if f, has := m["ending"]; has {
		s, good := l.text(f.val, "ending")
		switch {
		case !good:
			ok = false
		case w.Kind == model.WindowBetween:
			l.add(l.pos(f.key), "remove ending: an after: baseline window ends at the date the expression is evaluated at", "ending applies to months, days and ever windows only")
			ok = false
		case s == "as_of":
			w.End = model.AnchorCurrent
		case s == "baseline":
			w.End = model.AnchorBaseline
		default:
			rd, good := l.runDate(f.val, s)
			if !good {
				ok = false
				break
			}
			w.End, w.EndLit, w.EndIsLit, w.EndShifts = rd.At, rd.Lit, rd.IsLit, rd.Shifts
		}
	}
	return w, ok
}
