package lang

import (
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/internal/yamlstrict"
	"github.com/nhs-steward/steward/searches/model"
)

var measureKeys = []string{"id", "title", "count", "sum", "ratio", "at", "stratify", "publishable", "series"}

var dimensions = []string{string(model.DimSex), string(model.DimAgeBand), string(model.DimIMDQuintile)}

// measureRef is a ratio part written {measure: id}, resolved once every
// measure is known.
type measureRef struct {
	id   *yaml.Node
	from *model.Measure
	dst  **model.Agg
}

// prescanMeasures records measure ids before the variables are loaded, so
// that an expression naming a measure gets a helpful message.
func (l *loader) prescanMeasures(n *yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		return
	}
	for _, item := range n.Content {
		if item.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(item.Content); i += 2 {
			if item.Content[i].Value == "id" && item.Content[i+1].Kind == yaml.ScalarNode {
				if _, dup := l.measureIDs[item.Content[i+1].Value]; !dup {
					l.measureIDs[item.Content[i+1].Value] = item.Content[i+1]
				}
			}
		}
	}
}

func (l *loader) measures(n *yaml.Node) {
	items, ok := l.list(n, "measures")
	if !ok {
		return
	}
	byID := map[string]*model.Measure{}
	brokenIDs := map[string]bool{}
	firstID := map[string]*yaml.Node{}
	var refs []measureRef
	var ratioStrata []stratifiedRatio
	for _, item := range items {
		m, _ := l.fields(item, "a measure", measureKeys...)
		if m == nil {
			continue
		}
		ms := &model.Measure{Pos: l.pos(item), At: model.AnchorAsOf}
		ok := true
		if f, has := l.required(m, item, "a measure", "id", "add id: with the measure's name, e.g. id: long_term"); has {
			id, good := l.ident(f.val, "measure id")
			if good {
				if first, dup := firstID[id]; dup {
					l.add(l.pos(f.val), "measure ids are unique in a pack: rename one of them", "duplicate measure id %q (first at line %d)", id, first.Line)
					good = false
				} else {
					firstID[id] = f.val
				}
			}
			ms.ID = id
			ok = good
		} else {
			ok = false
		}
		what := "measure"
		if ms.ID != "" {
			what = "measure " + ms.ID
		}
		if f, has := m["title"]; has {
			ms.Title, _ = l.text(f.val, what+" title")
		}
		if f, has := m["at"]; has {
			if s, good := l.text(f.val, what+" at"); good {
				switch s {
				case "as_of":
					ms.At = model.AnchorAsOf
				case "baseline":
					ms.At = model.AnchorBaseline
				default:
					l.add(l.pos(f.val), "write at: as_of or at: baseline", "unknown at %q", s)
					ok = false
				}
			} else {
				ok = false
			}
		}

		var kinds []field
		for _, k := range []string{"count", "sum", "ratio"} {
			if f, has := m[k]; has {
				kinds = append(kinds, f)
			}
		}
		switch len(kinds) {
		case 0:
			l.add(l.pos(item), "add count: <boolean expression>, sum: {value: ..., where: ...} or ratio: {numerator: ..., denominator: ...}", "%s needs one of count, sum or ratio", what)
			ok = false
		case 1:
			k := kinds[0]
			ms.Kind = model.MeasureKind(k.key.Value)
			switch ms.Kind {
			case model.KindCount:
				ms.Value = l.countAgg(k.val, what+" count", ms.At)
			case model.KindSum:
				ms.Value = l.sumAgg(k.val, what+" sum", ms.At)
			case model.KindRatio:
				r, good := l.ratio(ms, k.val, what)
				refs = append(refs, r...)
				ok = ok && good
			}
			if ms.Kind != model.KindRatio && ms.Value == nil {
				ok = false
			}
		default:
			l.add(l.pos(kinds[1].key), "make a separate measure for each", "a measure is one of count, sum or ratio, but %s has %s and %s", what, kinds[0].key.Value, kinds[1].key.Value)
			ok = false
		}

		if f, has := m["stratify"]; has {
			if ms.Kind == model.KindRatio {
				if dims, strata, good := l.stratify(f.val); good {
					ms.Stratify, ms.Strata = dims, strata
					ratioStrata = append(ratioStrata, stratifiedRatio{ms, f.key})
				} else {
					ok = false
				}
			} else if ms.Kind != "" && ms.Kind != model.KindCount {
				l.add(l.pos(f.key), "strata are counts of patients: stratify the count measures instead", "stratify applies only to counts and ratios of counts, and %s is a %s", what, ms.Kind)
				ok = false
			} else if ms.Value != nil && ms.Value.Kind == model.KindSum {
				l.add(l.pos(f.key), "strata are counts of patients: stratify a count of patients instead", "stratify does not apply to %s, a count of rows", what)
				ok = false
			} else if dims, strata, good := l.stratify(f.val); good {
				ms.Stratify, ms.Strata = dims, strata
			} else {
				ok = false
			}
		}
		if f, has := m["publishable"]; has {
			v, good := l.boolean(f.val, "publishable")
			ms.Publishable = v
			ok = ok && good
		}
		if f, has := m["series"]; has {
			v, good := l.series(f.val, what)
			switch {
			case !good:
				ok = false
			case ms.At == model.AnchorBaseline:
				l.add(l.pos(f.key), "remove series:, or remove at: baseline (a series ends at the as-of date)", "%s is at baseline, but a series is evaluated at the month ends up to the as-of date", what)
				ok = false
			default:
				ms.Series = v
			}
		} else if ms.At != model.AnchorBaseline {
			ms.Series = l.s.Series
		}
		if !ok {
			if ms.ID != "" {
				brokenIDs[ms.ID] = true
			}
			continue
		}
		byID[ms.ID] = ms
		l.s.Measures = append(l.s.Measures, ms)
	}

	defer l.checkRatioStrata(ratioStrata)
	ids := make([]string, 0, len(byID))
	for _, ms := range l.s.Measures {
		ids = append(ids, ms.ID)
	}
	for _, r := range refs {
		id := r.id.Value
		target, found := byID[id]
		switch {
		case id == r.from.ID:
			l.add(l.pos(r.id), "refer to another measure, or write the expression itself", "measure %s refers to itself", id)
		case !found && brokenIDs[id]:
			// Already reported.
		case !found:
			l.add(l.pos(r.id), yamlstrict.Suggest(id, ids, "name a count or sum measure of this search: "+strings.Join(ids, ", ")), "undefined measure %q", id)
		case target.Kind == model.KindRatio:
			l.add(l.pos(r.id), "refer to a count or sum measure", "measure %s is a ratio: a ratio's numerator and denominator are counts or sums", id)
		default:
			c := *target.Value
			*r.dst = &c
			continue
		}
		// The referring ratio is invalid.
		l.dropMeasure(r.from)
	}
}

func (l *loader) dropMeasure(ms *model.Measure) {
	for i, x := range l.s.Measures {
		if x == ms {
			l.s.Measures = append(l.s.Measures[:i], l.s.Measures[i+1:]...)
			return
		}
	}
}

func (l *loader) countAgg(n *yaml.Node, what string, at model.Anchor) *model.Agg {
	if n.Kind == yaml.MappingNode {
		return l.rowCountAgg(n, what, at)
	}
	e := l.expr(n, what, model.Bool)
	if e == nil {
		return nil
	}
	return &model.Agg{Kind: model.KindCount, Where: e, At: at}
}

// rowCountAgg decodes count: {rows: <number>, where: <boolean>}: a count of
// things other than patients (for example issues), added up over the
// patients for whom where holds. The measure stays a count.
func (l *loader) rowCountAgg(n *yaml.Node, what string, at model.Anchor) *model.Agg {
	return l.valueAgg(n, what, at, "rows", "add rows: with a per-patient count to add up, e.g. rows: ome_unknown_3m")
}

func (l *loader) sumAgg(n *yaml.Node, what string, at model.Anchor) *model.Agg {
	return l.valueAgg(n, what, at, "value", "add value: with the number to add up over patients, e.g. value: daily_ome")
}

// valueAgg decodes {<key>: <number>, where: <boolean>}: the sum of a
// per-patient number over the patients for whom where holds.
func (l *loader) valueAgg(n *yaml.Node, what string, at model.Anchor, key, fix string) *model.Agg {
	m, _ := l.fields(n, what, key, "where")
	if m == nil {
		return nil
	}
	agg := &model.Agg{Kind: model.KindSum, At: at}
	ok := true
	if f, has := l.required(m, n, what, key, fix); has {
		agg.Value = l.expr(f.val, what+" "+key, model.Number)
		ok = agg.Value != nil
	} else {
		ok = false
	}
	if f, has := m["where"]; has {
		agg.Where = l.expr(f.val, what+" where", model.Bool)
		ok = ok && agg.Where != nil
	}
	if !ok {
		return nil
	}
	return agg
}

// ratio decodes a ratio measure's parts; parts written {measure: id} are
// returned to be resolved when every measure is known.
func (l *loader) ratio(ms *model.Measure, n *yaml.Node, what string) ([]measureRef, bool) {
	m, _ := l.fields(n, what+" ratio", "numerator", "denominator", "per")
	if m == nil {
		return nil, false
	}
	ms.Per = 1
	ok := true
	var refs []measureRef
	for _, part := range []struct {
		key string
		dst **model.Agg
	}{{"numerator", &ms.Numerator}, {"denominator", &ms.Denominator}} {
		f, has := l.required(m, n, what+" ratio", part.key, "add "+part.key+": with an expression, {count: ...}, {sum: {value: ..., where: ...}} or {measure: id}")
		if !has {
			ok = false
			continue
		}
		agg, ref := l.ratioPart(f.val, what+" "+part.key, ms.At)
		if ref != nil {
			refs = append(refs, measureRef{id: ref, from: ms, dst: part.dst})
			continue
		}
		if agg == nil {
			ok = false
		}
		*part.dst = agg
	}
	if f, has := m["per"]; has {
		v, good := l.number(f.val, what+" per")
		if good && v <= 0 {
			l.add(l.pos(f.val), "write a positive number, e.g. per: 1000", "%s per must be greater than 0, not %s", what, f.val.Value)
			good = false
		}
		if good {
			ms.Per = v
		}
		ok = ok && good
	}
	return refs, ok
}

// ratioPart decodes a numerator or denominator: an expression (a count),
// {count: expr}, {sum: {value, where}} or {measure: id}. For the last it
// returns the id node.
func (l *loader) ratioPart(n *yaml.Node, what string, at model.Anchor) (*model.Agg, *yaml.Node) {
	if n.Kind == yaml.ScalarNode {
		return l.countAgg(n, what, at), nil
	}
	if n.Kind != yaml.MappingNode {
		l.add(l.pos(n), "write an expression, {count: ...}, {sum: {value: ..., where: ...}} or {measure: id}", "%s must be an expression or a mapping, not %s", what, yamlstrict.Describe(n))
		return nil, nil
	}
	_, order := l.fields(n, what, "count", "sum", "measure")
	switch len(order) {
	case 0:
		if len(n.Content) == 0 {
			l.add(l.pos(n), "write {count: ...}, {sum: {value: ..., where: ...}} or {measure: id}", "%s is an empty mapping", what)
		}
		return nil, nil
	case 1:
	default:
		l.add(l.pos(order[1].key), "keep one of them", "%s has %s and %s: write one", what, order[0].key.Value, order[1].key.Value)
		return nil, nil
	}
	f := order[0]
	switch f.key.Value {
	case "count":
		return l.countAgg(f.val, what+" count", at), nil
	case "sum":
		return l.sumAgg(f.val, what+" sum", at), nil
	}
	if _, ok := l.ident(f.val, "measure"); !ok {
		return nil, nil
	}
	return nil, f.val
}

func (l *loader) stratify(n *yaml.Node) ([]model.Dimension, []*model.Stratification, bool) {
	items, ok := l.list(n, "stratify")
	if !ok {
		return nil, nil, false
	}
	var out []model.Dimension
	var strata []*model.Stratification
	seen := map[string]bool{}
	for _, item := range items {
		dim, st, good := l.stratification(item)
		switch {
		case !good:
			ok = false
		case seen[string(dim)]:
			l.add(l.pos(item), "remove one of them", "stratification %s is listed twice", dim)
			ok = false
		default:
			seen[string(dim)] = true
			out = append(out, dim)
			if st != nil {
				strata = append(strata, st)
			}
		}
	}
	return out, strata, ok
}
