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
	case *Aggregate:
		c := *e
		c.Window.End = concrete(e.Window.End, cur)
		if c.Window.Kind == WindowBetween {
			c.Window.Start = concrete(e.Window.Start, cur)
		}
		if c.Window.End == AnchorBaseline || (c.Window.Kind == WindowBetween && c.Window.Start == AnchorBaseline) {
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
