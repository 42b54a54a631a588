package model

import (
	"fmt"
	"sort"
)

// Plan is a search ready for an engine: every measure's aggregates are
// expressions over built-ins and Aggregates only (no VarRef, no
// AnchorCurrent), and equal Aggregates are one shared node.
type Plan struct {
	Search   *Search
	Measures []*PlannedMeasure
	// Aggregates are the distinct row aggregates the plan reads, in a stable
	// order. Engines compute each once per patient.
	Aggregates []*Aggregate
	// Worklist is the resolved local-only worklist, or nil.
	Worklist *PlannedWorklist
	// UsesBaseline is true when any expression reads the baseline date.
	UsesBaseline bool
}

// PlannedMeasure is a measure with resolved aggregates.
type PlannedMeasure struct {
	*Measure
	Value, Numerator, Denominator *Agg
	// StrataExprs are the resolved variables of each stratification of
	// Strata, by dimension: one per part, nil for a built-in part.
	StrataExprs map[Dimension][]Expr
}

// PlannedWorklist is the resolved worklist, evaluated at the as-of date.
type PlannedWorklist struct {
	*Worklist
	Where   Expr
	Columns []WorklistColumn
}

// Resolve builds the Plan of a validated search.
func Resolve(s *Search) (*Plan, error) {
	r := &resolver{shared: map[string]*Aggregate{}}
	p := &Plan{Search: s}
	for _, m := range s.Measures {
		pm := &PlannedMeasure{Measure: m}
		var err error
		if pm.Value, err = r.agg(m.Value); err != nil {
			return nil, fmt.Errorf("measure %s: %w", m.ID, err)
		}
		if pm.Numerator, err = r.agg(m.Numerator); err != nil {
			return nil, fmt.Errorf("measure %s: %w", m.ID, err)
		}
		if pm.Denominator, err = r.agg(m.Denominator); err != nil {
			return nil, fmt.Errorf("measure %s: %w", m.ID, err)
		}
		for _, st := range m.Strata {
			if pm.StrataExprs == nil {
				pm.StrataExprs = map[Dimension][]Expr{}
			}
			at := concrete(m.At, AnchorAsOf)
			exprs := make([]Expr, len(st.Parts))
			for i, part := range st.Parts {
				if part.Var != nil {
					exprs[i] = r.expr(&VarRef{Var: part.Var, At: at, P: st.Pos}, at)
				}
			}
			pm.StrataExprs[st.Dim] = exprs
		}
		p.Measures = append(p.Measures, pm)
	}
	if w := s.Worklist; w != nil {
		pw := &PlannedWorklist{Worklist: w, Where: r.expr(w.Where, AnchorAsOf)}
		for _, c := range w.Columns {
			pw.Columns = append(pw.Columns, WorklistColumn{Name: c.Name, Expr: r.expr(c.Expr, AnchorAsOf)})
		}
		p.Worklist = pw
	}
	keys := make([]string, 0, len(r.shared))
	for k := range r.shared {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.Aggregates = append(p.Aggregates, r.shared[k])
	}
	p.UsesBaseline = r.usesBaseline
	return p, nil
}

type resolver struct {
	shared       map[string]*Aggregate
	usesBaseline bool
}

func (r *resolver) agg(a *Agg) (*Agg, error) {
	if a == nil {
		return nil, nil
	}
	at := a.At
	if at == AnchorCurrent {
		at = AnchorAsOf
	}
	if at == AnchorBaseline {
		r.usesBaseline = true
	}
	out := &Agg{Kind: a.Kind, At: at}
	if a.Where != nil {
		out.Where = r.expr(a.Where, at)
	}
	if a.Value != nil {
		out.Value = r.expr(a.Value, at)
	}
	if out.Kind == KindSum && out.Value == nil {
		return nil, fmt.Errorf("sum without a value")
	}
	return out, nil
}

func concrete(a, cur Anchor) Anchor {
	if a == AnchorCurrent {
		a = cur
	}
	return a
}

// expr inlines variable references and binds anchors, evaluating at cur.
func (r *resolver) expr(e Expr, cur Anchor) Expr {
	if cur == AnchorBaseline {
		r.usesBaseline = true
	}
	switch e := e.(type) {
	case *VarRef:
		return r.expr(e.Var.Expr, concrete(e.At, cur))
	case *Not:
		return &Not{X: r.expr(e.X, cur), P: e.P}
	case *Logic:
		return &Logic{Op: e.Op, L: r.expr(e.L, cur), R: r.expr(e.R, cur), P: e.P}
	case *Compare:
		return &Compare{Op: e.Op, L: r.expr(e.L, cur), R: r.expr(e.R, cur), P: e.P}
	case *Arith:
		return &Arith{Op: e.Op, L: r.expr(e.L, cur), R: r.expr(e.R, cur), P: e.P}
	case *Registered:
		at := concrete(e.At, cur)
		r.usesBaseline = r.usesBaseline || at == AnchorBaseline
		return &Registered{At: at, P: e.P}
	case *Age:
		at := concrete(e.At, cur)
		r.usesBaseline = r.usesBaseline || at == AnchorBaseline
		return &Age{At: at, P: e.P}
	case *RunDate:
		c := *e
		c.At = concrete(e.At, cur)
		if !c.IsLit && c.At == AnchorBaseline {
			r.usesBaseline = true
		}
		return &c
	case *DateShift:
		return &DateShift{X: r.expr(e.X, cur), Shift: e.Shift, P: e.P}
	case *DaysBetweenExpr:
		return &DaysBetweenExpr{A: r.expr(e.A, cur), B: r.expr(e.B, cur), P: e.P}
	case *AgeAt:
		return &AgeAt{X: r.expr(e.X, cur), P: e.P}
	case *Case:
		c := &Case{T: e.T, P: e.P}
		for _, w := range e.Whens {
			c.Whens = append(c.Whens, CaseWhen{When: r.expr(w.When, cur), Then: r.expr(w.Then, cur)})
		}
		if e.Else != nil {
			c.Else = r.expr(e.Else, cur)
		}
		return c
	case *RegDate:
		at := concrete(e.At, cur)
		r.usesBaseline = r.usesBaseline || at == AnchorBaseline
		return &RegDate{Kind: e.Kind, At: at, P: e.P}
	case *Aggregate:
		c := *e
		c.Window.End = concrete(e.Window.End, cur)
		if c.Window.Kind == WindowBetween {
			c.Window.Start = concrete(e.Window.Start, cur)
		}
		if (c.Window.UsesAnchor() && c.Window.End == AnchorBaseline) || (c.Window.Kind == WindowBetween && c.Window.Start == AnchorBaseline) {
			r.usesBaseline = true
		}
		k := Key(&c)
		if s, ok := r.shared[k]; ok {
			return s
		}
		r.shared[k] = &c
		return &c
	default:
		return e
	}
}

// Walk calls f for e and every sub-expression, depth first.
func Walk(e Expr, f func(Expr)) {
	if e == nil {
		return
	}
	f(e)
	switch e := e.(type) {
	case *Not:
		Walk(e.X, f)
	case *Logic:
		Walk(e.L, f)
		Walk(e.R, f)
	case *Compare:
		Walk(e.L, f)
		Walk(e.R, f)
	case *Arith:
		Walk(e.L, f)
		Walk(e.R, f)
	case *DateShift:
		Walk(e.X, f)
	case *DaysBetweenExpr:
		Walk(e.A, f)
		Walk(e.B, f)
	case *AgeAt:
		Walk(e.X, f)
	case *Case:
		for _, w := range e.Whens {
			Walk(w.When, f)
			Walk(w.Then, f)
		}
		Walk(e.Else, f)
	case *VarRef:
		Walk(e.Var.Expr, f)
	}
}

// ResolveExpr resolves an expression of s (for example a variable's
// expression, or a VarRef built by a test) evaluated at anchor at, for
// engines' Patients method. Aggregates in the result are fresh nodes: engines
// identify aggregates by Key, never by pointer.
func ResolveExpr(e Expr, at Anchor) Expr {
	if at == AnchorCurrent {
		at = AnchorAsOf
	}
	r := &resolver{shared: map[string]*Aggregate{}}
	return r.expr(e, at)
}

// Variable returns the variable of s named name, or nil.
func (s *Search) Variable(name string) *Variable {
	for _, v := range s.Variables {
		if v.Name == name {
			return v
		}
	}
	return nil
}

// BaselineUse returns where a search first needs the run's baseline date — a
// measure with at: baseline, an @baseline anchor, a window ending at or
// starting after the baseline — and what uses it there, for messages that
// say where to look. ok is false when no measure or worklist column needs a
// baseline, so the search runs without one.
func BaselineUse(s *Search) (pos Pos, what string, ok bool) {
	u := &baselineUse{seen: map[*Variable]Anchor{}}
	for _, m := range s.Measures {
		at := concrete(m.At, AnchorAsOf)
		if at == AnchorBaseline {
			return m.Pos, "measure " + m.ID + " (at: baseline)", true
		}
		for _, a := range []*Agg{m.Value, m.Numerator, m.Denominator} {
			if a == nil {
				continue
			}
			aat := concrete(a.At, at)
			if aat == AnchorBaseline {
				return m.Pos, "measure " + m.ID + " (at: baseline)", true
			}
			for _, e := range []Expr{a.Where, a.Value} {
				if u.expr(e, aat) {
					return u.pos, u.what, true
				}
			}
		}
	}
	if w := s.Worklist; w != nil {
		if u.expr(w.Where, AnchorAsOf) {
			return u.pos, u.what, true
		}
		for _, c := range w.Columns {
			if u.expr(c.Expr, AnchorAsOf) {
				return u.pos, u.what, true
			}
		}
	}
	return Pos{}, "", false
}

type baselineUse struct {
	seen map[*Variable]Anchor
	pos  Pos
	what string
}

// expr reports whether e evaluated at cur reads the baseline date, noting
// the first place that does.
func (u *baselineUse) expr(e Expr, cur Anchor) bool {
	found := func(p Pos, what string) bool {
		u.pos, u.what = p, what
		return true
	}
	switch e := e.(type) {
	case nil:
		return false
	case *VarRef:
		at := concrete(e.At, cur)
		if e.At == AnchorBaseline {
			return found(e.P, e.Var.Name+"@baseline")
		}
		if prev, ok := u.seen[e.Var]; ok && prev == at {
			return false
		}
		u.seen[e.Var] = at
		if at == AnchorBaseline {
			return found(e.P, e.Var.Name+" evaluated at the baseline")
		}
		return u.expr(e.Var.Expr, at)
	case *Not:
		return u.expr(e.X, cur)
	case *Logic:
		return u.expr(e.L, cur) || u.expr(e.R, cur)
	case *Compare:
		return u.expr(e.L, cur) || u.expr(e.R, cur)
	case *Arith:
		return u.expr(e.L, cur) || u.expr(e.R, cur)
	case *Registered:
		if concrete(e.At, cur) == AnchorBaseline {
			return found(e.P, "registered@baseline")
		}
	case *Age:
		if concrete(e.At, cur) == AnchorBaseline {
			return found(e.P, "age@baseline")
		}
	case *RunDate:
		if !e.IsLit && concrete(e.At, cur) == AnchorBaseline {
			return found(e.P, "baseline")
		}
	case *DateShift:
		return u.expr(e.X, cur)
	case *DaysBetweenExpr:
		return u.expr(e.A, cur) || u.expr(e.B, cur)
	case *AgeAt:
		return u.expr(e.X, cur)
	case *Case:
		for _, w := range e.Whens {
			if u.expr(w.When, cur) || u.expr(w.Then, cur) {
				return true
			}
		}
		return u.expr(e.Else, cur)
	case *RegDate:
		if concrete(e.At, cur) == AnchorBaseline {
			return found(e.P, e.Kind.String()+"@baseline")
		}
	case *Aggregate:
		if e.Window.UsesAnchor() && concrete(e.Window.End, cur) == AnchorBaseline {
			return found(e.P, "a window ending at the baseline")
		}
		if e.Window.Kind == WindowBetween && concrete(e.Window.Start, cur) == AnchorBaseline {
			return found(e.P, "a window after the baseline")
		}
	}
	return false
}
