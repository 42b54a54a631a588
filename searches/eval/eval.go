// Package eval is the reference evaluator: it computes a search plan over an
// in-memory dataset.Dataset straight from the language's semantics
// (docs/search-language-draft.md and the comments of package model). It is
// the oracle every SQL engine is compared with, so it is written to be
// obviously correct, not fast: every patient, every row, every time.
package eval

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"time"

	"github.com/nhs-steward/steward/searches/dataset"
	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
)

// Evaluator evaluates plans over one dataset.
type Evaluator struct {
	data *dataset.Dataset
}

var _ engine.Engine = (*Evaluator)(nil)

// New returns an evaluator over ds. ds must not change while it is in use.
func New(ds *dataset.Dataset) *Evaluator {
	return &Evaluator{data: ds}
}

// ErrNoBaseline is returned when a plan reads the baseline date and the
// input has none.
var ErrNoBaseline = errors.New("the search uses the baseline date but the run has none")

// patient is one patient of the universe with their rows.
type patient struct {
	dataset.Patient
	spells []dataset.Registration // at the practice only
	issues []dataset.Issue
	events []dataset.Event
}

// run is one evaluation: the input and the universe.
type run struct {
	in       engine.Input
	patients []*patient
	codes    map[*model.Codelist]map[string]bool
}

func (e *Evaluator) start(in engine.Input) (*run, error) {
	if in.Plan == nil {
		return nil, errors.New("no plan")
	}
	if in.Dates.AsOf.IsZero() {
		return nil, errors.New("no as-of date")
	}
	if in.Plan.UsesBaseline && in.Dates.Baseline.IsZero() {
		return nil, ErrNoBaseline
	}
	for name := range in.Params {
		if !hasParam(in.Plan.Search, name) {
			return nil, fmt.Errorf("unknown parameter %q", name)
		}
	}
	r := &run{in: in, codes: map[*model.Codelist]map[string]bool{}}
	// The universe: every patient with a registration spell at the practice,
	// whatever its dates.
	byID := map[int64]*patient{}
	for _, reg := range e.data.Registrations {
		if reg.Practice != in.Practice {
			continue
		}
		p := byID[reg.PatientID]
		if p == nil {
			p = &patient{}
			byID[reg.PatientID] = p
		}
		p.spells = append(p.spells, reg)
	}
	for _, pt := range e.data.Patients {
		if p := byID[pt.ID]; p != nil {
			p.Patient = pt
			r.patients = append(r.patients, p)
		}
	}
	if len(r.patients) != len(byID) {
		return nil, errors.New("a registration refers to a patient who is not in the dataset")
	}
	sort.Slice(r.patients, func(i, j int) bool { return r.patients[i].ID < r.patients[j].ID })
	for _, is := range e.data.Issues {
		if p := byID[is.PatientID]; p != nil {
			p.issues = append(p.issues, is)
		}
	}
	for _, ev := range e.data.Events {
		if p := byID[ev.PatientID]; p != nil {
			p.events = append(p.events, ev)
		}
	}
	return r, nil
}

func hasParam(s *model.Search, name string) bool {
	for _, p := range s.Parameters {
		if p.Name == name {
			return true
		}
	}
	return false
}

// Evaluate computes every measure of in.Plan.
func (e *Evaluator) Evaluate(ctx context.Context, in engine.Input) (*engine.Result, error) {
	began := time.Now()
	r, err := e.start(in)
	if err != nil {
		return nil, err
	}
	res := &engine.Result{Patients: int64(len(r.patients))}
	for _, p := range r.patients {
		for _, is := range p.issues {
			if !is.Date.After(in.Dates.AsOf) {
				res.Rows++
			}
		}
		for _, ev := range p.events {
			if !ev.Date.After(in.Dates.AsOf) {
				res.Rows++
			}
		}
	}
	for _, m := range in.Plan.Measures {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		mr, err := r.measure(m)
		if err != nil {
			return nil, fmt.Errorf("measure %s: %w", m.ID, err)
		}
		res.Measures = append(res.Measures, mr)
	}
	res.Duration = time.Since(began)
	return res, nil
}

func (r *run) measure(m *model.PlannedMeasure) (engine.MeasureResult, error) {
	mr := engine.MeasureResult{ID: m.ID}
	var err error
	switch m.Kind {
	case model.KindCount, model.KindSum:
		if mr.Value, err = r.agg(m.Value); err != nil {
			return mr, err
		}
	case model.KindRatio:
		if mr.Numerator, err = r.agg(m.Numerator); err != nil {
			return mr, err
		}
		if mr.Denominator, err = r.agg(m.Denominator); err != nil {
			return mr, err
		}
		mr.Value = RatioValue(mr.Numerator, mr.Denominator, m.Per)
	default:
		return mr, fmt.Errorf("unknown measure kind %q", m.Kind)
	}
	if len(m.Stratify) == 0 {
		return mr, nil
	}
	switch m.Kind {
	case model.KindCount:
		err = r.strata(m, m.Value, "", &mr)
	case model.KindRatio:
		if err = r.strata(m, m.Numerator, engine.PartNumerator, &mr); err == nil {
			err = r.strata(m, m.Denominator, engine.PartDenominator, &mr)
		}
	}
	return mr, err
}

// strata adds the strata of a count (or of a ratio's numerator or
// denominator, part): the patients it counts, by dimension, described at
// the measure's date.
func (r *run) strata(m *model.PlannedMeasure, a *model.Agg, part string, mr *engine.MeasureResult) error {
	if a == nil || a.Kind != model.KindCount {
		return fmt.Errorf("strata of a %s", m.Kind)
	}
	at := r.in.Dates.Date(concrete(m.At, model.AnchorAsOf))
	counted, err := r.counted(a)
	if err != nil {
		return err
	}
	for _, dim := range m.Stratify {
		labels := m.Labels(dim, r.in.Plan.Search.AgeBands)
		if labels == nil {
			return fmt.Errorf("unknown dimension %q", dim)
		}
		n := map[string]int64{}
		for _, p := range counted {
			l, err := r.stratumOf(m, dim, p, at)
			if err != nil {
				return err
			}
			n[l]++
		}
		for _, l := range labels {
			mr.Strata = append(mr.Strata, engine.Stratum{Dimension: dim, Label: l, Count: n[l], Part: part})
		}
	}
	return nil
}

// RatioValue is the value of a ratio: numerator / denominator x per
// (MEASURES.md: the denominator is the raw count, per only scales the value),
// null when either is null or the denominator is 0. A per of 0 means 1.
func RatioValue(num, den engine.Number, per float64) engine.Number {
	if per == 0 {
		per = 1
	}
	if !num.Valid || !den.Valid || den.Value == 0 {
		return engine.Number{}
	}
	return engine.Number{Value: num.Value / den.Value * per, Valid: true}
}

func stratum(p *patient, dim model.Dimension, at time.Time, bands []int) string {
	switch dim {
	case model.DimSex:
		return model.Sex(p.Sex)
	case model.DimAgeBand:
		return model.AgeBand(age(p, at), bands)
	case model.DimIMDQuintile:
		if p.IMDDecile == nil {
			return model.IMDQuintile(0, false)
		}
		return model.IMDQuintile(*p.IMDDecile, true)
	}
	return ""
}

// counted returns the patients an aggregate counts or sums over.
func (r *run) counted(a *model.Agg) ([]*patient, error) {
	var out []*patient
	for _, p := range r.patients {
		ok := true
		if a.Where != nil {
			v, err := r.eval(a.Where, p, concrete(a.At, model.AnchorAsOf))
			if err != nil {
				return nil, err
			}
			ok = v.Bool
		}
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// agg computes a patient aggregate: a count of patients, or the sum of a
// number over them (null values add nothing; no patients sum to 0),
// rounded to engine.RoundSum places.
func (r *run) agg(a *model.Agg) (engine.Number, error) {
	if a == nil {
		return engine.Number{}, errors.New("missing aggregate")
	}
	ps, err := r.counted(a)
	if err != nil {
		return engine.Number{}, err
	}
	switch a.Kind {
	case model.KindCount:
		return engine.Number{Value: float64(len(ps)), Valid: true}, nil
	case model.KindSum:
		// Like a row sum, the sum over patients is rounded to RoundSum
		// places, so that a published figure does not depend on the
		// engine's arithmetic.
		sum := new(big.Rat)
		for _, p := range ps {
			v, err := r.eval(a.Value, p, concrete(a.At, model.AnchorAsOf))
			if err != nil {
				return engine.Number{}, err
			}
			if v.Valid {
				sum.Add(sum, rat(v.Number))
			}
		}
		return engine.Number{Value: RoundSum(sum), Valid: true}, nil
	}
	return engine.Number{}, fmt.Errorf("unknown aggregate kind %q", a.Kind)
}

// Patients returns the values of exprs for every patient of the universe
// for whom where holds, by patient id.
func (e *Evaluator) Patients(ctx context.Context, in engine.Input, where model.Expr, exprs []model.Expr) ([]engine.PatientRow, error) {
	r, err := e.start(in)
	if err != nil {
		return nil, err
	}
	var out []engine.PatientRow
	for _, p := range r.patients {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if where != nil {
			v, err := r.eval(where, p, model.AnchorAsOf)
			if err != nil {
				return nil, err
			}
			if !v.Bool {
				continue
			}
		}
		row := engine.PatientRow{PatientID: p.ID}
		for _, x := range exprs {
			v, err := r.eval(x, p, model.AnchorAsOf)
			if err != nil {
				return nil, err
			}
			row.Values = append(row.Values, v)
		}
		out = append(out, row)
	}
	return out, nil
}

func concrete(a, cur model.Anchor) model.Anchor {
	if a == model.AnchorCurrent {
		return cur
	}
	return a
}

func boolean(b bool) engine.Value {
	return engine.Value{Type: model.Bool, Valid: true, Bool: b}
}

func number(f float64) engine.Value {
	return engine.Value{Type: model.Number, Valid: true, Number: f}
}

var nullNumber = engine.Value{Type: model.Number}

// eval evaluates e for p at anchor cur (the date the enclosing expression
// is evaluated at). Resolved expressions carry concrete anchors; cur only
// matters for unresolved ones (VarRef, AnchorCurrent).
func (r *run) eval(e model.Expr, p *patient, cur model.Anchor) (engine.Value, error) {
	switch e := e.(type) {
	case *model.NumberLit:
		return number(e.Value), nil
	case *model.BoolLit:
		return boolean(e.Value), nil
	case *model.ParamRef:
		return number(r.in.ParamValue(e.Param)), nil
	case *model.VarRef:
		return r.eval(e.Var.Expr, p, concrete(e.At, cur))
	case *model.Not:
		x, err := r.eval(e.X, p, cur)
		if err != nil {
			return x, err
		}
		return boolean(!x.Bool), nil
	case *model.Logic:
		l, err := r.eval(e.L, p, cur)
		if err != nil {
			return l, err
		}
		rv, err := r.eval(e.R, p, cur)
		if err != nil {
			return rv, err
		}
		switch e.Op {
		case "and":
			return boolean(l.Bool && rv.Bool), nil
		case "or":
			return boolean(l.Bool || rv.Bool), nil
		}
		return engine.Value{}, fmt.Errorf("%s: unknown logical operator %q", e.P, e.Op)
	case *model.Compare:
		l, err := r.eval(e.L, p, cur)
		if err != nil {
			return l, err
		}
		rv, err := r.eval(e.R, p, cur)
		if err != nil {
			return rv, err
		}
		if !l.Valid || !rv.Valid {
			return boolean(false), nil
		}
		c, err := compare(l, rv)
		if err != nil {
			return engine.Value{}, fmt.Errorf("%s: %w", e.P, err)
		}
		switch e.Op {
		case "<":
			return boolean(c < 0), nil
		case "<=":
			return boolean(c <= 0), nil
		case ">":
			return boolean(c > 0), nil
		case ">=":
			return boolean(c >= 0), nil
		case "=":
			return boolean(c == 0), nil
		case "!=":
			return boolean(c != 0), nil
		}
		return engine.Value{}, fmt.Errorf("%s: unknown comparison %q", e.P, e.Op)
	case *model.Arith:
		l, err := r.eval(e.L, p, cur)
		if err != nil {
			return l, err
		}
		rv, err := r.eval(e.R, p, cur)
		if err != nil {
			return rv, err
		}
		if !l.Valid || !rv.Valid {
			return nullNumber, nil
		}
		switch e.Op {
		case "+":
			return number(l.Number + rv.Number), nil
		case "-":
			return number(l.Number - rv.Number), nil
		case "*":
			return number(l.Number * rv.Number), nil
		case "/":
			if rv.Number == 0 {
				return nullNumber, nil
			}
			return number(l.Number / rv.Number), nil
		}
		return engine.Value{}, fmt.Errorf("%s: unknown arithmetic operator %q", e.P, e.Op)
	case *model.Registered:
		day, err := r.date(concrete(e.At, cur))
		if err != nil {
			return engine.Value{}, err
		}
		return boolean(registered(p, day)), nil
	case *model.Age:
		day, err := r.date(concrete(e.At, cur))
		if err != nil {
			return engine.Value{}, err
		}
		return number(float64(age(p, day))), nil
	case *model.Aggregate:
		return r.aggregate(e, p, cur)
	case *model.RunDate:
		if !e.IsLit {
			if _, err := r.date(concrete(e.At, cur)); err != nil {
				return engine.Value{}, err
			}
		}
		d := *e
		d.At = concrete(e.At, cur)
		return dateValue(d.On(r.in.Dates)), nil
	case *model.DateShift:
		x, err := r.eval(e.X, p, cur)
		if err != nil || !x.Valid {
			return x, err
		}
		return dateValue(model.AddShift(x.Date, e.Shift)), nil
	case *model.DaysBetweenExpr:
		a, err := r.eval(e.A, p, cur)
		if err != nil {
			return a, err
		}
		b, err := r.eval(e.B, p, cur)
		if err != nil {
			return b, err
		}
		if !a.Valid || !b.Valid {
			return nullNumber, nil
		}
		return number(float64(model.DaysBetween(a.Date, b.Date))), nil
	case *model.AgeAt:
		x, err := r.eval(e.X, p, cur)
		if err != nil {
			return x, err
		}
		if !x.Valid {
			return nullNumber, nil
		}
		return number(float64(age(p, x.Date))), nil
	case *model.Case:
		return r.caseValue(e, p, cur)
	case *model.RegDate:
		day, err := r.date(concrete(e.At, cur))
		if err != nil {
			return engine.Value{}, err
		}
		if d, ok := regDate(p, e.Kind, day); ok {
			return dateValue(d), nil
		}
		return engine.Value{Type: model.Date}, nil
	}
	return engine.Value{}, fmt.Errorf("unknown expression %T", e)
}

// date returns the date of a concrete anchor.
func (r *run) date(a model.Anchor) (time.Time, error) {
	if a == model.AnchorBaseline && r.in.Dates.Baseline.IsZero() {
		return time.Time{}, ErrNoBaseline
	}
	return r.in.Dates.Date(a), nil
}

func compare(l, r engine.Value) (int, error) {
	switch {
	case l.Type == model.Number && r.Type == model.Number:
		switch {
		case l.Number < r.Number:
			return -1, nil
		case l.Number > r.Number:
			return 1, nil
		}
		return 0, nil
	case l.Type == model.Date && r.Type == model.Date:
		return l.Date.Compare(r.Date), nil
	}
	return 0, fmt.Errorf("cannot compare %s with %s", l.Type, r.Type)
}

// registered: a spell at the practice covers day, and the patient had not
// died on or before it.
func registered(p *patient, day time.Time) bool {
	if p.DateOfDeath != nil && !p.DateOfDeath.After(day) {
		return false
	}
	for _, s := range p.spells {
		if !s.Start.After(day) && (s.End == nil || !s.End.Before(day)) {
			return true
		}
	}
	return false
}

func dateValue(d time.Time) engine.Value {
	return engine.Value{Type: model.Date, Valid: true, Date: d}
}

// regDate is a registration date of p at day: the start of the spell
// covering day (the latest, when spells overlap), or the earliest start on
// or before day.
func regDate(p *patient, k model.RegDateKind, day time.Time) (time.Time, bool) {
	var out time.Time
	found := false
	for _, s := range p.spells {
		if s.Start.After(day) {
			continue
		}
		switch k {
		case model.RegStart:
			if s.End != nil && s.End.Before(day) {
				continue
			}
			if !found || s.Start.After(out) {
				out, found = s.Start, true
			}
		case model.Joined:
			if !found || s.Start.Before(out) {
				out, found = s.Start, true
			}
		}
	}
	return out, found
}

func age(p *patient, day time.Time) int {
	b := p.DateOfBirth
	return model.AgeOn(b.Year(), int(b.Month()), b.Day(), day.Year(), int(day.Month()), day.Day())
}

// row is one issue or event as an aggregate sees it.
type row struct {
	date  time.Time
	code  string
	value *big.Rat // nil when unknown
	raw   *float64 // the quantity or numeric value as stored: the last key of the row order
}

// aggregate computes an aggregate over p's rows.
func (r *run) aggregate(a *model.Aggregate, p *patient, cur model.Anchor) (engine.Value, error) {
	w := a.Window
	w.End = concrete(w.End, cur)
	w.Start = concrete(w.Start, cur)
	if ((w.UsesAnchor() && w.End == model.AnchorBaseline) || (w.Kind == model.WindowBetween && w.Start == model.AnchorBaseline)) && r.in.Dates.Baseline.IsZero() {
		return engine.Value{}, ErrNoBaseline
	}
	from, to, hasFrom := w.Range(r.in.Dates)
	asOf := r.in.Dates.AsOf
	inCodelist := r.codelist(a.Codelist)

	var rows []row
	switch a.Source {
	case model.Issues:
		for _, is := range p.issues {
			rows = append(rows, row{date: is.Date, code: is.Code, value: issueValue(a, is), raw: is.Quantity})
		}
	case model.Events:
		for _, ev := range p.events {
			var v *big.Rat
			if a.Value == model.ValueNumericValue && ev.Value != nil {
				v = rat(*ev.Value)
			}
			rows = append(rows, row{date: ev.Date, code: ev.Code, value: v, raw: ev.Value})
		}
	default:
		return engine.Value{}, fmt.Errorf("%s: unknown source %q", a.P, a.Source)
	}

	// The rows the aggregate reads: in the codelist, in the window, never
	// after the as-of date, and passing the known/unknown filter.
	var in []row
	for _, rw := range rows {
		if !inCodelist[rw.code] {
			continue
		}
		if rw.date.After(to) || rw.date.After(asOf) || (hasFrom && rw.date.Before(from)) {
			continue
		}
		if a.Filter == model.RowsValueKnown && rw.value == nil {
			continue
		}
		if a.Filter == model.RowsValueUnknown && rw.value != nil {
			continue
		}
		in = append(in, rw)
	}

	if v, done, err := r.rowValues(a, in); done {
		return v, err
	}
	switch a.Op {
	case model.OpExists:
		return boolean(len(in) > 0), nil
	case model.OpCount:
		return number(float64(len(in))), nil
	case model.OpSum:
		sum := new(big.Rat)
		for _, rw := range in {
			if rw.value != nil {
				sum.Add(sum, rw.value)
			}
		}
		if a.PerDay {
			days := w.Days(r.in.Dates)
			if days <= 0 {
				return nullNumber, nil
			}
			sum.Quo(sum, new(big.Rat).SetInt64(int64(days)))
		}
		return number(RoundSum(sum)), nil
	case model.OpFirst, model.OpLast:
		if len(in) == 0 {
			return engine.Value{Type: model.Date}, nil
		}
		d := in[0].date
		for _, rw := range in[1:] {
			if (a.Op == model.OpFirst && rw.date.Before(d)) || (a.Op == model.OpLast && rw.date.After(d)) {
				d = rw.date
			}
		}
		return engine.Value{Type: model.Date, Valid: true, Date: d}, nil
	case model.OpEachMonth:
		if w.Kind != model.WindowMonths {
			return engine.Value{}, fmt.Errorf("%s: each_month needs a months window", a.P)
		}
		for _, first := range w.Months(r.in.Dates) {
			found := false
			for _, rw := range in {
				if rw.date.Year() == first.Year() && rw.date.Month() == first.Month() {
					found = true
					break
				}
			}
			if !found {
				return boolean(false), nil
			}
		}
		return boolean(true), nil
	}
	return engine.Value{}, fmt.Errorf("%s: unknown aggregate %q", a.P, a.Op)
}

// issueValue is the value of an issue row, or nil when it is unknown: a NULL
// or non-positive quantity, or (for quantity x reference) a code missing
// from the reference table.
func issueValue(a *model.Aggregate, is dataset.Issue) *big.Rat {
	switch a.Value {
	case model.ValueQuantity, model.ValueQuantityRef:
	default:
		return nil
	}
	if is.Quantity == nil || *is.Quantity <= 0 {
		return nil
	}
	q := rat(*is.Quantity)
	if a.Value == model.ValueQuantity {
		return q
	}
	if a.Ref == nil {
		return nil
	}
	f, ok := a.Ref.Values[is.Code]
	if !ok {
		return nil
	}
	return q.Mul(q, rat(f))
}

// rat is the exact decimal a float64 prints as (its shortest
// representation), so that 0.1 is one tenth, as in a numeric column.
func rat(f float64) *big.Rat {
	x, ok := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	if !ok {
		panic("eval: unrepresentable number " + strconv.FormatFloat(f, 'g', -1, 64))
	}
	return x
}

// RoundSum rounds x to engine.RoundSum decimal places, halves away from
// zero (as SQL's ROUND does), and returns the nearest float64.
func RoundSum(x *big.Rat) float64 {
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(engine.RoundSum), nil)
	y := new(big.Rat).Mul(x, new(big.Rat).SetInt(scale))
	// Round half away from zero: floor(|y| + 1/2) with y's sign.
	neg := y.Sign() < 0
	y.Abs(y)
	y.Add(y, big.NewRat(1, 2))
	n := new(big.Int).Quo(y.Num(), y.Denom())
	if neg {
		n.Neg(n)
	}
	f, _ := new(big.Rat).SetFrac(n, scale).Float64()
	return f
}

func (r *run) codelist(c *model.Codelist) map[string]bool {
	if c == nil {
		return nil
	}
	if s, ok := r.codes[c]; ok {
		return s
	}
	s := make(map[string]bool, len(c.Codes))
	for _, code := range c.Codes {
		s[code] = true
	}
	r.codes[c] = s
	return s
}
