package lang

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/internal/yamlstrict"
	"github.com/nhs-steward/steward/searches/model"
)

// Strata by variables (docs/search-language.md, Strata): a stratification
// is a built-in dimension, a boolean variable, {variable: <number
// variable>, values: [...]}, or a list of two of these, crossed.

// maxStrataValues bounds the values listed for a number variable.
const maxStrataValues = 50

// stratification decodes one item of stratify:. st is nil for a built-in
// dimension.
func (l *loader) stratification(n *yaml.Node) (model.Dimension, *model.Stratification, bool) {
	if n.Kind == yaml.SequenceNode {
		items, _ := l.list(n, "a crossed stratification")
		if len(items) != 2 {
			l.add(l.pos(n), "cross two stratifications, e.g. [sex, age_band]", "a crossed stratification has two parts, not %d", len(items))
			return "", nil, false
		}
		st := &model.Stratification{Pos: l.pos(n)}
		for _, item := range items {
			if item.Kind == yaml.SequenceNode {
				l.add(l.pos(item), "cross two stratifications at a time", "a crossed stratification cannot contain another")
				return "", nil, false
			}
			part, good := l.strataPart(item)
			if !good {
				return "", nil, false
			}
			st.Parts = append(st.Parts, part)
		}
		if st.Parts[0].Name() == st.Parts[1].Name() {
			l.add(l.pos(n), "cross two different stratifications", "stratification %s is crossed with itself", st.Parts[0].Name())
			return "", nil, false
		}
		st.Dim = model.Dimension(st.Parts[0].Name() + "_by_" + st.Parts[1].Name())
		if cells := len(st.Parts[0].Labels(l.s.AgeBands)) * len(st.Parts[1].Labels(l.s.AgeBands)); cells > model.MaxCells {
			l.add(l.pos(n), fmt.Sprintf("cross stratifications with fewer labels: a results document holds at most %d cells per stratification", model.MaxCells), "stratification %s has %d cells", st.Dim, cells)
			return "", nil, false
		}
		return st.Dim, st, true
	}
	part, good := l.strataPart(n)
	if !good {
		return "", nil, false
	}
	if part.Var == nil {
		return part.Builtin, nil, true
	}
	st := &model.Stratification{Dim: model.Dimension(part.Var.Name), Parts: []model.StrataPart{part}, Pos: l.pos(n)}
	return st.Dim, st, true
}

// strataPart decodes a built-in dimension, a boolean variable's name, or
// {variable: <number variable>, values: [...]}.
func (l *loader) strataPart(n *yaml.Node) (model.StrataPart, bool) {
	var part model.StrataPart
	const numberFix = "list the values that get a cell of their own, e.g. {variable: %s, values: [1, 2, 3]} (any other value, or none, is counted in other)"
	if n.Kind == yaml.MappingNode {
		m, _ := l.fields(n, "a stratification", "variable", "values")
		if m == nil {
			return part, false
		}
		f, has := l.required(m, n, "a stratification", "variable", "add variable: with the name of a number variable")
		if !has {
			return part, false
		}
		v, good := l.strataVar(f.val)
		if !good {
			return part, false
		}
		part.Var = v
		if v.Expr.Type() != model.Number {
			l.add(l.pos(f.val), "write a boolean variable by name, without values:", "stratification by %s: values apply to number variables, and %s is %s", v.Name, v.Name, article(v.Expr.Type()))
			return part, false
		}
		vf, has := l.required(m, n, "a stratification", "values", fmt.Sprintf(numberFix, v.Name))
		if !has {
			return part, false
		}
		items, good := l.list(vf.val, "values")
		if !good {
			return part, false
		}
		if len(items) == 0 || len(items) > maxStrataValues {
			l.add(l.pos(vf.val), fmt.Sprintf("list from 1 to %d values", maxStrataValues), "stratification by %s lists %d values", v.Name, len(items))
			return part, false
		}
		for _, item := range items {
			x, good := l.number(item, "a stratification value")
			if !good {
				return part, false
			}
			if slices.Contains(part.Values, x) {
				l.add(l.pos(item), "remove one of them", "stratification by %s lists %s twice", v.Name, model.NumberLabel(x))
				return part, false
			}
			part.Values = append(part.Values, x)
		}
		return part, true
	}
	s, good := l.text(n, "a stratification")
	if !good {
		return part, false
	}
	if slices.Contains(dimensions, s) {
		part.Builtin = model.Dimension(s)
		return part, true
	}
	v, good := l.strataVar(n)
	if !good {
		return part, false
	}
	switch v.Expr.Type() {
	case model.Bool:
	case model.Number:
		l.add(l.pos(n), fmt.Sprintf(numberFix, s), "stratification by %s, a number, needs the values to count", s)
		return part, false
	default:
		l.add(l.pos(n), "stratify by a boolean, or by a number with listed values", "cannot stratify by %s, %s", s, article(v.Expr.Type()))
		return part, false
	}
	part.Var = v
	return part, true
}

// strataVar is the variable named by scalar n.
func (l *loader) strataVar(n *yaml.Node) (*model.Variable, bool) {
	s, good := l.text(n, "a stratification")
	if !good {
		return nil, false
	}
	if v := l.vars[s]; v != nil {
		return v, true
	}
	if !l.broken[s] {
		names := append([]string(nil), dimensions...)
		for _, v := range l.s.Variables {
			names = append(names, v.Name)
		}
		l.add(l.pos(n), yamlstrict.Suggest(s, names, "use "+strings.Join(dimensions, ", ")+" or a variable"), "unknown stratification %q", s)
	}
	return nil, false
}

// stratifiedRatio is a ratio with stratify:, checked once its parts are
// known.
type stratifiedRatio struct {
	ms  *model.Measure
	key *yaml.Node
}

// maxRatioStrata is the most stratifications a ratio may have: each gives
// two in the results document (numerator and denominator), which holds at
// most 8 per measure.
const maxRatioStrata = 4

// checkRatioStrata checks stratified ratios: both parts count patients at
// the measure's date (a patient is in one cell of each part, so the cells
// add up to the numerator and to the denominator).
func (l *loader) checkRatioStrata(rs []stratifiedRatio) {
	for _, r := range rs {
		ms := r.ms
		if !slices.Contains(l.s.Measures, ms) {
			continue // dropped, with its problem reported
		}
		at := ms.At
		if at == model.AnchorCurrent {
			at = model.AnchorAsOf
		}
		bad := ""
		for _, p := range []struct {
			name string
			a    *model.Agg
		}{{"numerator", ms.Numerator}, {"denominator", ms.Denominator}} {
			switch {
			case p.a == nil:
				bad = "its " + p.name + " is missing"
			case p.a.Kind != model.KindCount || p.a.Value != nil:
				bad = "its " + p.name + " is not a count of patients"
			case p.a.At != model.AnchorCurrent && p.a.At != at:
				bad = "its " + p.name + " describes another date than the measure"
			}
			if bad != "" {
				break
			}
		}
		if bad == "" && len(ms.Stratify) > maxRatioStrata {
			bad = fmt.Sprintf("it has %d stratifications (a ratio's count twice, numerator and denominator: at most %d)", len(ms.Stratify), maxRatioStrata)
		}
		if bad != "" {
			l.add(l.pos(r.key), "stratify a ratio of two counts of patients at the measure's date, or stratify the count measures instead", "measure %s cannot be stratified: %s", ms.ID, bad)
			l.dropMeasure(ms)
		}
	}
}
