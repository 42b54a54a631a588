package conformance

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/internal/pgtest"
	"github.com/nhs-steward/steward/searches/dataset"
	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/eval"
	"github.com/nhs-steward/steward/searches/fixture"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/schema"
)

// The property test: random practices and random valid searches, on which
// the SQL engines must agree with the reference evaluator on every measure,
// stratum and per-patient value.
//
//	STEWARD_PROPERTY_N     iterations (default 60, 15 with -short)
//	STEWARD_PROPERTY_SEED  first seed (default 1); iteration i uses seed+i
//
// A failure prints the seed and a shrunk reproducer: the search as YAML and
// the practice as fixture patients, ready to paste into a fixture file.

const practiceODS = "Y01234"

func TestProperty(t *testing.T) {
	n := 60
	if testing.Short() {
		n = 15
	}
	if s := os.Getenv("STEWARD_PROPERTY_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("STEWARD_PROPERTY_N=%q: want a positive number", s)
		}
		n = v
	}
	seed := uint64(1)
	if s := os.Getenv("STEWARD_PROPERTY_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("STEWARD_PROPERTY_SEED=%q: want a number", s)
		}
		seed = v
	}
	pgURL := ""
	if os.Getenv(pgtest.EnvURL) != "" {
		pgURL = pgtest.NewDB(t)
	} else {
		t.Logf("%s not set: comparing the evaluator with SQLite only", pgtest.EnvURL)
	}
	dir := t.TempDir()
	ctx := context.Background()
	began := time.Now()
	failures := 0
	for i := range n {
		s := seed + uint64(i)
		c := generate(s)
		l := Layouts[i%len(Layouts)]
		c.layout = l
		engines := propertyEngines(dir, pgURL, l)
		msg := c.disagreement(ctx, engines)
		if msg == "" {
			continue
		}
		failures++
		small := c.shrink(ctx, engines)
		t.Errorf("seed %d (layout %s): engines disagree:\n%s\nshrunk to %d patients, where:\n%s\nreproducer (rerun with STEWARD_PROPERTY_SEED=%d STEWARD_PROPERTY_N=1):\n%s",
			s, l, msg, len(small.data.Patients), small.disagreement(ctx, engines), s, small.dump())
		if failures >= 3 {
			t.Fatalf("stopping after %d failures", failures)
		}
	}
	t.Logf("%d iterations from seed %d in %v", n, seed, time.Since(began).Round(time.Millisecond))
}

// engineFunc builds an engine over a dataset; release frees it.
type engineFunc func(ctx context.Context, s *model.Search, ds *dataset.Dataset) (engine.Engine, func(), error)

type namedEngine struct {
	name string
	make engineFunc
}

func propertyEngines(dir, pgURL string, l schema.Layout) []namedEngine {
	n := 0
	out := []namedEngine{{"sqlite/" + string(l), func(ctx context.Context, s *model.Search, ds *dataset.Dataset) (engine.Engine, func(), error) {
		n++
		path := filepath.Join(dir, fmt.Sprintf("p%d.db", n))
		eng, release, err := SQLiteEngine(ctx, path, l, ds, Mapped(s))
		if err != nil {
			return nil, nil, err
		}
		return eng, func() { release(); os.Remove(path) }, nil
	}}}
	if pgURL != "" {
		out = append(out, namedEngine{"postgres/" + string(l), func(ctx context.Context, s *model.Search, ds *dataset.Dataset) (engine.Engine, func(), error) {
			return PostgresEngine(ctx, pgURL, l, ds, Mapped(s))
		}})
	}
	return out
}

// propCase is one generated search and practice.
type propCase struct {
	search *model.Search
	data   *dataset.Dataset
	dates  model.Dates
	params map[string]float64
	// layout is the layout the SQL engines read: the evaluator is given
	// the data as that layout holds it (dataset.ForLayout).
	layout schema.Layout
}

// disagreement runs c on the evaluator and on engines and describes the
// first differences, or returns "".
func (c *propCase) disagreement(ctx context.Context, engines []namedEngine) string {
	plan, err := model.Resolve(c.search)
	if err != nil {
		return "resolve: " + err.Error()
	}
	in := engine.Input{Plan: plan, Practice: practiceODS, Dates: c.dates, Params: c.params}
	var exprs []model.Expr
	for _, v := range c.search.Variables {
		exprs = append(exprs, model.ResolveExpr(&model.VarRef{Var: v, At: model.AnchorAsOf}, model.AnchorAsOf))
	}
	ref := eval.New(dataset.ForLayout(c.layout, c.data))
	wantRes, err := ref.Evaluate(ctx, in)
	if err != nil {
		return "evaluator: " + err.Error()
	}
	wantRows, err := ref.Patients(ctx, in, nil, exprs)
	if err != nil {
		return "evaluator patients: " + err.Error()
	}
	// A where filter: the first boolean variable.
	var where model.Expr
	for _, v := range c.search.Variables {
		if v.Expr.Type() == model.Bool {
			where = model.ResolveExpr(&model.VarRef{Var: v, At: model.AnchorAsOf}, model.AnchorAsOf)
			break
		}
	}
	wantWhere, err := ref.Patients(ctx, in, where, exprs[:1])
	if err != nil {
		return "evaluator patients where: " + err.Error()
	}
	sp, n := plan.SeriesPlan()
	var seriesDates []time.Time
	var wantSeries []*engine.Result
	if sp != nil {
		seriesDates = model.SeriesDates(c.dates.AsOf, n)
		sin := in
		sin.Plan = sp
		if wantSeries, err = engine.Series(ctx, ref, sin, seriesDates); err != nil {
			return "evaluator series: " + err.Error()
		}
	}
	var b strings.Builder
	for _, e := range engines {
		eng, release, err := e.make(ctx, c.search, c.data)
		if err != nil {
			fmt.Fprintf(&b, "%s: set up: %v\n", e.name, err)
			continue
		}
		func() {
			defer release()
			got, err := eng.Evaluate(ctx, in)
			if err != nil {
				fmt.Fprintf(&b, "%s: evaluate: %v\n", e.name, err)
				return
			}
			for _, d := range compareResults(plan, wantRes, got) {
				fmt.Fprintf(&b, "%s: %s\n", e.name, d)
			}
			if sp != nil {
				sin := in
				sin.Plan = sp
				gotSeries, err := engine.Series(ctx, eng, sin, seriesDates)
				if err != nil {
					fmt.Fprintf(&b, "%s: series: %v\n", e.name, err)
					return
				}
				for k := range seriesDates {
					for _, d := range compareResults(sp, wantSeries[k], gotSeries[k]) {
						fmt.Fprintf(&b, "%s: series as of %s: %s\n", e.name, seriesDates[k].Format(time.DateOnly), d)
					}
				}
			}
			rows, err := eng.Patients(ctx, in, nil, exprs)
			if err != nil {
				fmt.Fprintf(&b, "%s: patients: %v\n", e.name, err)
				return
			}
			for _, d := range compareRows(c.search.Variables, wantRows, rows) {
				fmt.Fprintf(&b, "%s: %s\n", e.name, d)
			}
			rows, err = eng.Patients(ctx, in, where, exprs[:1])
			if err != nil {
				fmt.Fprintf(&b, "%s: patients where: %v\n", e.name, err)
				return
			}
			for _, d := range compareRows(c.search.Variables[:1], wantWhere, rows) {
				fmt.Fprintf(&b, "%s: with where %s: %s\n", e.name, model.Key(where), d)
			}
		}()
	}
	return b.String()
}

func compareResults(p *model.Plan, want, got *engine.Result) []string {
	var out []string
	if want.Patients != got.Patients && got.Patients != 0 {
		out = append(out, fmt.Sprintf("universe: got %d patients, want %d", got.Patients, want.Patients))
	}
	if len(got.Measures) != len(want.Measures) {
		return append(out, fmt.Sprintf("%d measures, want %d", len(got.Measures), len(want.Measures)))
	}
	for i, pm := range p.Measures {
		w, g := want.Measures[i], got.Measures[i]
		if g.ID != w.ID {
			out = append(out, fmt.Sprintf("measure %d: id %s, want %s", i, g.ID, w.ID))
			continue
		}
		num := func(what string, w, g engine.Number) {
			if w.Valid != g.Valid || (w.Valid && !fixture.Close(w.Value, g.Value)) {
				out = append(out, fmt.Sprintf("measure %s %s: got %s, want %s", pm.ID, what, fixture.FormatNumber(g), fixture.FormatNumber(w)))
			}
		}
		if pm.Kind == model.KindRatio {
			num("numerator", w.Numerator, g.Numerator)
			num("denominator", w.Denominator, g.Denominator)
			// The value is numerator / denominator x per: a difference
			// within tolerance in the numerator grows by per / denominator.
			wv, gv := fixture.RatioValue(w.Numerator, w.Denominator, pm.Per), fixture.RatioValue(g.Numerator, g.Denominator, pm.Per)
			if wv.Valid != gv.Valid || (wv.Valid && math.Abs(wv.Value-gv.Value) > fixture.Tolerance*math.Max(1, math.Abs(pm.Per/w.Denominator.Value))*(1+1e-6) && !fixture.Close(wv.Value, gv.Value)) {
				out = append(out, fmt.Sprintf("measure %s value: got %s, want %s", pm.ID, fixture.FormatNumber(gv), fixture.FormatNumber(wv)))
			}
		} else {
			num("value", w.Value, g.Value)
		}
		if len(w.Strata) != len(g.Strata) {
			out = append(out, fmt.Sprintf("measure %s: %d strata, want %d", pm.ID, len(g.Strata), len(w.Strata)))
			continue
		}
		for j := range w.Strata {
			if w.Strata[j] != g.Strata[j] {
				out = append(out, fmt.Sprintf("measure %s stratum %s=%s: got %+v, want count %d", pm.ID, w.Strata[j].Dimension, w.Strata[j].Label, g.Strata[j], w.Strata[j].Count))
			}
		}
	}
	return out
}

func compareRows(vars []*model.Variable, want, got []engine.PatientRow) []string {
	var out []string
	ids := func(rs []engine.PatientRow) []int64 {
		var o []int64
		for _, r := range rs {
			o = append(o, r.PatientID)
		}
		return o
	}
	if !slices.Equal(ids(want), ids(got)) {
		return []string{fmt.Sprintf("patients %v, want %v", ids(got), ids(want))}
	}
	for i := range want {
		for j, w := range want[i].Values {
			if j >= len(got[i].Values) {
				out = append(out, fmt.Sprintf("patient %d: %d values, want %d", want[i].PatientID, len(got[i].Values), len(want[i].Values)))
				break
			}
			g := got[i].Values[j]
			g.Type = w.Type
			if !fixture.ValuesEqual(w, g) {
				out = append(out, fmt.Sprintf("patient %d %s: got %s, want %s", want[i].PatientID, vars[j].Name, fixture.FormatValue(g), fixture.FormatValue(w)))
			}
		}
	}
	return out
}

// shrink removes patients, then rows, while the engines still disagree.
func (c *propCase) shrink(ctx context.Context, engines []namedEngine) *propCase {
	budget := 150
	fails := func(x *propCase) bool {
		budget--
		return x.disagreement(ctx, engines) != ""
	}
	cur := c
	for changed := true; changed && budget > 0; {
		changed = false
		for i := 0; i < len(cur.data.Patients) && budget > 0; i++ {
			if next := cur.withoutPatient(cur.data.Patients[i].ID); fails(next) {
				cur, changed = next, true
				i--
			}
		}
		for i := 0; i < len(cur.data.Issues) && budget > 0; i++ {
			next := cur.clone()
			next.data.Issues = slices.Delete(next.data.Issues, i, i+1)
			if fails(next) {
				cur, changed = next, true
				i--
			}
		}
		for i := 0; i < len(cur.data.Events) && budget > 0; i++ {
			next := cur.clone()
			next.data.Events = slices.Delete(next.data.Events, i, i+1)
			if fails(next) {
				cur, changed = next, true
				i--
			}
		}
	}
	return cur
}

func (c *propCase) clone() *propCase {
	d := *c.data
	d.Patients = slices.Clone(d.Patients)
	d.Registrations = slices.Clone(d.Registrations)
	d.Issues = slices.Clone(d.Issues)
	d.Events = slices.Clone(d.Events)
	n := *c
	n.data = &d
	return &n
}

func (c *propCase) withoutPatient(id int64) *propCase {
	n := c.clone()
	d := n.data
	d.Patients = slices.DeleteFunc(d.Patients, func(p dataset.Patient) bool { return p.ID == id })
	d.Registrations = slices.DeleteFunc(d.Registrations, func(r dataset.Registration) bool { return r.PatientID == id })
	d.Issues = slices.DeleteFunc(d.Issues, func(r dataset.Issue) bool { return r.PatientID == id })
	d.Events = slices.DeleteFunc(d.Events, func(r dataset.Event) bool { return r.PatientID == id })
	return n
}

// ---- generation ----

type gen struct {
	r        *rand.Rand
	s        *model.Search
	params   []*model.Parameter
	lists    []*model.Codelist
	ref      *model.Reference
	bools    []*model.Variable
	numbers  []*model.Variable // exact: integer-valued in every engine
	exact    map[*model.Variable]bool
	nextName int
}

// codePool holds the codes rows use; some are in no codelist.
var codePool = []string{"101", "102", "103", "104", "105", "106", "107", "108", "999", "36120011000001101"}

func generate(seed uint64) *propCase {
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x5eed)), exact: map[*model.Variable]bool{}}
	asOf := monthEnd(2023+g.r.IntN(3), time.Month(1+g.r.IntN(12)))
	baseline := monthEnd(asOf.Year(), asOf.Month()-time.Month(1+g.r.IntN(24)))
	c := &propCase{dates: model.Dates{AsOf: asOf, Baseline: baseline}}
	c.search = g.search()
	c.data = g.practice(c.dates)
	if g.r.IntN(3) == 0 {
		c.params = map[string]float64{}
		for _, p := range g.params {
			if g.r.IntN(2) == 0 {
				c.params[p.Name] = g.threshold(true)
			}
		}
	}
	return c
}

func monthEnd(y int, m time.Month) time.Time {
	return time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
}

func (g *gen) pick(n int) int { return g.r.IntN(n) }

func (g *gen) name(prefix string) string {
	g.nextName++
	return prefix + strconv.Itoa(g.nextName)
}

// threshold is a comparison constant: an integer (for exact operands) or a
// number with 7 decimal places, which no rounded sum can equal.
func (g *gen) threshold(exact bool) float64 {
	if exact {
		return float64(g.pick(8))
	}
	return float64(g.pick(200)) + float64(1+g.pick(9999999))/1e7
}

func (g *gen) search() *model.Search {
	s := &model.Search{ID: "prop", AgeBands: []int{18, 40, 65, 80}}
	if g.pick(4) == 0 {
		s.AgeBands = []int{16, 50}
	}
	g.s = s
	for i := range 1 + g.pick(2) {
		p := &model.Parameter{Name: "p" + strconv.Itoa(i+1), Default: g.threshold(g.pick(2) == 0)}
		g.params = append(g.params, p)
	}
	s.Parameters = g.params
	for i := range 1 + g.pick(3) {
		cl := &model.Codelist{Name: "list" + strconv.Itoa(i+1)}
		for _, c := range codePool[:8] {
			if g.pick(3) == 0 {
				cl.Codes = append(cl.Codes, c)
			}
		}
		if len(cl.Codes) == 0 {
			cl.Codes = []string{codePool[g.pick(8)]}
		}
		slices.Sort(cl.Codes)
		if g.pick(2) == 0 {
			// A category classing some of the codes, a few codes to a class.
			cat := &model.Category{Name: "class", Values: map[string]string{}}
			for _, c := range cl.Codes {
				if g.pick(4) != 0 {
					cat.Values[c] = []string{"x", "y", "z"}[g.pick(3)]
				}
			}
			if len(cat.Values) > 0 {
				cl.Categories = []*model.Category{cat}
			}
		}
		g.lists = append(g.lists, cl)
	}
	s.Codelists = g.lists
	g.ref = &model.Reference{Name: "ome", Values: map[string]float64{}}
	refValues := []float64{0.25, 0.5, 1, 1.5, 2, 10, 7.5}
	for _, c := range codePool[:8] {
		if g.pick(4) != 0 {
			g.ref.Values[c] = refValues[g.pick(len(refValues))]
		}
	}
	s.References = []*model.Reference{g.ref}

	for range 3 + g.pick(4) {
		g.addVariable(g.aggregate())
	}
	for range 2 + g.pick(4) {
		if g.pick(2) == 0 {
			g.addVariable(g.boolExpr(2))
		} else {
			e, exact := g.numExpr(2)
			v := g.addVariable(e)
			g.exact[v] = exact
		}
	}
	if len(g.bools) == 0 {
		g.addVariable(&model.Registered{})
	}
	for range 2 + g.pick(4) {
		s.Measures = append(s.Measures, g.measure())
	}
	return s
}

func (g *gen) addVariable(e model.Expr) *model.Variable {
	v := &model.Variable{Name: g.name("v"), Expr: e}
	g.s.Variables = append(g.s.Variables, v)
	switch e.Type() {
	case model.Bool:
		g.bools = append(g.bools, v)
	case model.Number:
		g.numbers = append(g.numbers, v)
		if a, ok := e.(*model.Aggregate); ok {
			g.exact[v] = a.Op == model.OpCount || a.Op == model.OpCountDistinct
		}
	}
	return v
}

func (g *gen) window(months bool) model.Window {
	w := g.windowShape(months)
	if w.Kind != model.WindowBetween && g.pick(3) == 0 {
		// Ending at a run date: a literal (perhaps after as_of, which the
		// engines cut) or the anchor shifted, month ends included.
		rd := g.runDate()
		w.End, w.EndLit, w.EndIsLit, w.EndShifts = rd.At, rd.Lit, rd.IsLit, rd.Shifts
	}
	return w
}

func (g *gen) windowShape(months bool) model.Window {
	end := model.AnchorCurrent
	if g.pick(4) == 0 {
		end = model.AnchorBaseline
	}
	if months {
		return model.Window{Kind: model.WindowMonths, N: []int{1, 2, 3, 6, 12}[g.pick(5)], End: end}
	}
	switch g.pick(4) {
	case 0:
		return model.Window{Kind: model.WindowMonths, N: []int{1, 2, 3, 6, 12}[g.pick(5)], End: end}
	case 1:
		return model.Window{Kind: model.WindowDays, N: []int{1, 7, 30, 90, 365}[g.pick(5)], End: end}
	case 2:
		return model.Window{Kind: model.WindowEver, End: end}
	}
	return model.Window{Kind: model.WindowBetween, Start: model.AnchorBaseline, End: model.AnchorCurrent}
}

// shift is a date shift that often crosses a month end or 29 February.
func (g *gen) shift() model.Shift {
	switch g.pick(3) {
	case 0:
		return model.Shift{N: []int{-1, 1, -30, 31, -365, 10}[g.pick(6)], Unit: model.Days}
	case 1:
		return model.Shift{N: []int{-1, 1, -3, -6, 12, -13}[g.pick(6)], Unit: model.Months}
	}
	return model.Shift{N: []int{-1, 1, -4}[g.pick(3)], Unit: model.Years}
}

// runDate is as_of, baseline or a literal (a month end, 29 February, a 31st),
// shifted zero to two times.
func (g *gen) runDate() *model.RunDate {
	rd := &model.RunDate{At: []model.Anchor{model.AnchorCurrent, model.AnchorBaseline}[g.pick(2)]}
	if g.pick(3) == 0 {
		rd.IsLit, rd.At = true, model.AnchorCurrent
		rd.Lit = []time.Time{
			time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 31, 0, 0, 0, 0, time.UTC),
			time.Date(2023, 1, 31, 0, 0, 0, 0, time.UTC), time.Date(2025, 8, 31, 0, 0, 0, 0, time.UTC),
			time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC),
		}[g.pick(5)]
	}
	for range g.pick(3) {
		rd.Shifts = append(rd.Shifts, g.shift())
	}
	return rd
}

// dateExpr is a date: a run date, a date variable (perhaps shifted) or a
// registration date.
func (g *gen) dateExpr() model.Expr {
	var dates []*model.Variable
	for _, v := range g.s.Variables {
		if v.Expr.Type() == model.Date {
			dates = append(dates, v)
		}
	}
	switch g.pick(4) {
	case 0:
		return g.runDate()
	case 1:
		return &model.RegDate{Kind: []model.RegDateKind{model.RegStart, model.Joined}[g.pick(2)], At: g.anchor()}
	}
	if len(dates) == 0 {
		return g.runDate()
	}
	var x model.Expr = &model.VarRef{Var: dates[g.pick(len(dates))], At: g.anchor()}
	if g.pick(2) == 0 {
		x = &model.DateShift{X: x, Shift: g.shift()}
	}
	return x
}

func (g *gen) aggregate() *model.Aggregate {
	a := &model.Aggregate{Codelist: g.lists[g.pick(len(g.lists))], Source: model.Issues}
	if g.pick(3) == 0 {
		a.Source = model.Events
	}
	ops := []model.AggOp{model.OpExists, model.OpCount, model.OpSum, model.OpSum, model.OpFirst, model.OpLast, model.OpEachMonth,
		model.OpMin, model.OpMax, model.OpMean, model.OpCountDistinct, model.OpFirst, model.OpLast}
	a.Op = ops[g.pick(len(ops))]
	a.Window = g.window(a.Op == model.OpEachMonth)
	rowOf := false
	switch a.Op {
	case model.OpFirst, model.OpLast:
		// Row values: the nth row, and an attribute other than the date.
		if g.pick(2) == 0 {
			a.Nth = 1 + g.pick(3)
		}
		switch g.pick(5) {
		case 0:
			rowOf = true
			a.Of = model.Attr{Kind: model.AttrValue}
		case 1:
			if a.Source == model.Issues {
				a.Of = model.Attr{Kind: model.AttrRef, Ref: g.ref}
			}
		case 2:
			// The row's code: a worklist value, compared patient by
			// patient, never computed with.
			a.Of = model.Attr{Kind: model.AttrCode}
		}
	case model.OpCountDistinct:
		a.Of = model.Attr{Kind: model.AttrCode}
		if len(a.Codelist.Categories) > 0 && g.pick(2) == 0 {
			a.Of = model.Attr{Kind: model.AttrCategory, Category: a.Codelist.Categories[0]}
		}
	}
	withValue := a.Op == model.OpSum || a.Op == model.OpMin || a.Op == model.OpMax || a.Op == model.OpMean || rowOf ||
		((a.Op == model.OpCount || a.Op == model.OpExists) && g.pick(2) == 0)
	if withValue {
		if a.Source == model.Events {
			a.Value = model.ValueNumericValue
		} else if g.pick(2) == 0 {
			a.Value = model.ValueQuantity
		} else {
			a.Value, a.Ref = model.ValueQuantityRef, g.ref
		}
		if (a.Op != model.OpSum && !valueOps[a.Op]) || g.pick(3) == 0 {
			a.Filter = []model.RowFilter{model.RowsAll, model.RowsValueKnown, model.RowsValueUnknown}[g.pick(3)]
		}
	}
	if a.Op == model.OpSum && (a.Window.Kind == model.WindowMonths || a.Window.Kind == model.WindowDays) && g.pick(2) == 0 {
		a.PerDay = true
	}
	if a.Filter == model.RowsAll && g.pick(3) == 0 {
		a.Where = g.rowConds(a.Source)
	}
	return a
}

// rowConds are a rows: mapping's comparisons: one or two columns of the
// source, each with one comparison or a between, against a value the
// rows hold (so = and the ends of between are hit) or a parameter.
func (g *gen) rowConds(src model.Source) []model.RowCond {
	type column struct {
		c      model.RowCond
		values []float64
	}
	cols := []column{{model.RowCond{Col: model.ColNumericValue}, []float64{-1.5, 0, 2, 3.25, 10}}}
	if src == model.Issues {
		cols = []column{
			{model.RowCond{Col: model.ColQuantity}, []float64{0, 0.5, 1, 28, 28.5, 56, 100}},
			{model.RowCond{Col: model.ColRef, Ref: g.ref}, []float64{0.25, 1, 1.5, 7.5, 10}},
		}
		if g.pick(2) == 0 {
			cols[0], cols[1] = cols[1], cols[0]
		}
		cols = cols[:1+g.pick(2)]
	}
	operand := func(values []float64) model.Expr {
		if g.pick(5) == 0 {
			return &model.ParamRef{Param: g.params[g.pick(len(g.params))]}
		}
		return &model.NumberLit{Value: values[g.pick(len(values))]}
	}
	var out []model.RowCond
	for _, col := range cols {
		if g.pick(4) == 0 {
			lo, hi := col.c, col.c
			lo.Op, hi.Op = ">=", "<="
			x, y := col.values[g.pick(len(col.values))], col.values[g.pick(len(col.values))]
			lo.Value, hi.Value = &model.NumberLit{Value: min(x, y)}, &model.NumberLit{Value: max(x, y)}
			out = append(out, lo, hi)
			continue
		}
		c := col.c
		c.Op = []string{"<", "<=", ">", ">=", "=", "!="}[g.pick(6)]
		c.Value = operand(col.values)
		out = append(out, c)
	}
	return out
}

// varStrata adds strata by a variable, alone or crossed with a built-in
// dimension, now and then.
func (g *gen) varStrata(m *model.Measure) {
	if g.pick(2) == 0 {
		return
	}
	var part model.StrataPart
	var exact []*model.Variable
	for _, v := range g.numbers {
		if g.exact[v] {
			exact = append(exact, v)
		}
	}
	if len(exact) > 0 && g.pick(2) == 0 {
		part = model.StrataPart{Var: exact[g.pick(len(exact))], Values: []float64{0, 1, 2}}
	} else if len(g.bools) > 0 {
		part = model.StrataPart{Var: g.bools[g.pick(len(g.bools))]}
	} else {
		return
	}
	st := &model.Stratification{Dim: model.Dimension(part.Var.Name), Parts: []model.StrataPart{part}}
	if g.pick(2) == 0 {
		b := model.StrataPart{Builtin: []model.Dimension{model.DimSex, model.DimAgeBand, model.DimIMDQuintile}[g.pick(3)]}
		st.Parts = []model.StrataPart{b, part}
		st.Dim = model.Dimension(b.Name() + "_by_" + part.Name())
	}
	m.Stratify = append(m.Stratify, st.Dim)
	m.Strata = append(m.Strata, st)
}

// strataText writes a measure's stratify list.
func strataText(m *model.Measure) string {
	var parts []string
	partText := func(p model.StrataPart) string {
		if p.Var != nil && len(p.Values) > 0 {
			return "{variable: " + p.Var.Name + ", values: [0, 1, 2]}"
		}
		return p.Name()
	}
	for _, d := range m.Stratify {
		st := m.Stratification(d)
		switch {
		case st == nil:
			parts = append(parts, string(d))
		case len(st.Parts) == 1:
			parts = append(parts, partText(st.Parts[0]))
		default:
			parts = append(parts, "["+partText(st.Parts[0])+", "+partText(st.Parts[1])+"]")
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// valueOps read the row value statistics.
var valueOps = map[model.AggOp]bool{model.OpMin: true, model.OpMax: true, model.OpMean: true}

// caseExpr is a case over numbers, with or without an else.
func (g *gen) caseExpr(depth int) (model.Expr, bool) {
	c := &model.Case{T: model.Number}
	exact := true
	for range 1 + g.pick(2) {
		then, e := g.numExpr(depth)
		exact = exact && e
		c.Whens = append(c.Whens, model.CaseWhen{When: g.boolExpr(depth), Then: then})
	}
	if g.pick(2) == 0 {
		x, e := g.numExpr(depth)
		exact = exact && e
		c.Else = x
	}
	return c, exact
}

func (g *gen) anchor() model.Anchor {
	switch g.pick(6) {
	case 0:
		return model.AnchorBaseline
	case 1:
		return model.AnchorAsOf
	}
	return model.AnchorCurrent
}

// numExpr returns a number expression and whether it is integer-valued.
func (g *gen) numExpr(depth int) (model.Expr, bool) {
	if depth == 0 || g.pick(3) == 0 {
		switch g.pick(5) {
		case 0:
			if g.pick(2) == 0 {
				return &model.NumberLit{Value: float64(g.pick(10))}, true
			}
			return &model.NumberLit{Value: float64(g.pick(1000)) / 4}, false
		case 1:
			if g.pick(3) == 0 && depth > 0 {
				return g.caseExpr(depth - 1)
			}
			return &model.ParamRef{Param: g.params[g.pick(len(g.params))]}, false
		case 2:
			switch g.pick(3) {
			case 0:
				return &model.DaysBetweenExpr{A: g.dateExpr(), B: g.dateExpr()}, true
			case 1:
				return &model.AgeAt{X: g.dateExpr()}, true
			}
			return &model.Age{At: g.anchor()}, true
		}
		if len(g.numbers) > 0 {
			v := g.numbers[g.pick(len(g.numbers))]
			return &model.VarRef{Var: v, At: g.anchor()}, g.exact[v]
		}
		return &model.Age{}, true
	}
	l, le := g.numExpr(depth - 1)
	r, re := g.numExpr(depth - 1)
	op := []string{"+", "-", "*", "/"}[g.pick(4)]
	return &model.Arith{Op: op, L: l, R: r}, le && re && op != "/"
}

func (g *gen) boolExpr(depth int) model.Expr {
	if depth == 0 || g.pick(3) == 0 {
		switch g.pick(4) {
		case 0:
			return &model.Registered{At: g.anchor()}
		case 1:
			l, le := g.numExpr(1)
			r := model.Expr(&model.NumberLit{Value: g.threshold(le)})
			if g.pick(3) == 0 {
				var re bool
				r, re = g.numExpr(1)
				if !le || !re {
					r = &model.Arith{Op: "+", L: r, R: &model.NumberLit{Value: 0.0000001}}
				}
			}
			op := []string{"<", "<=", ">", ">=", "=", "!="}[g.pick(6)]
			return &model.Compare{Op: op, L: l, R: r}
		case 2:
			// Two dates.
			var dates []*model.Variable
			for _, v := range g.s.Variables {
				if v.Expr.Type() == model.Date {
					dates = append(dates, v)
				}
			}
			if len(dates) > 0 && g.pick(2) == 0 {
				return &model.Compare{Op: []string{"<", "<=", "=", "!="}[g.pick(4)],
					L: &model.VarRef{Var: dates[g.pick(len(dates))], At: g.anchor()}, R: &model.VarRef{Var: dates[g.pick(len(dates))], At: g.anchor()}}
			}
			return &model.Compare{Op: []string{"<", "<=", ">", ">=", "=", "!="}[g.pick(6)], L: g.dateExpr(), R: g.dateExpr()}
		}
		if len(g.bools) > 0 {
			return &model.VarRef{Var: g.bools[g.pick(len(g.bools))], At: g.anchor()}
		}
		return &model.BoolLit{Value: g.pick(2) == 0}
	}
	switch g.pick(3) {
	case 0:
		return &model.Not{X: g.boolExpr(depth - 1)}
	case 1:
		return &model.Logic{Op: "and", L: g.boolExpr(depth - 1), R: g.boolExpr(depth - 1)}
	}
	return &model.Logic{Op: "or", L: g.boolExpr(depth - 1), R: g.boolExpr(depth - 1)}
}

func (g *gen) measure() *model.Measure {
	m := &model.Measure{ID: g.name("m"), At: model.AnchorAsOf, Per: 1}
	if g.pick(4) == 0 {
		m.At = model.AnchorBaseline
	}
	agg := func(kind model.MeasureKind) *model.Agg {
		a := &model.Agg{Kind: kind, At: m.At}
		if kind == model.KindCount || g.pick(2) == 0 {
			a.Where = g.boolExpr(1)
		}
		if kind == model.KindSum {
			a.Value, _ = g.numExpr(1)
		}
		return a
	}
	switch g.pick(3) {
	case 0:
		m.Kind = model.KindCount
		m.Value = agg(model.KindCount)
		for _, d := range []model.Dimension{model.DimSex, model.DimAgeBand, model.DimIMDQuintile} {
			if g.pick(2) == 0 {
				m.Stratify = append(m.Stratify, d)
			}
		}
		g.varStrata(m)
	case 1:
		m.Kind = model.KindSum
		m.Value = agg(model.KindSum)
	default:
		m.Kind = model.KindRatio
		kinds := []model.MeasureKind{model.KindCount, model.KindCount, model.KindSum}
		m.Numerator, m.Denominator = agg(kinds[g.pick(3)]), agg(kinds[g.pick(3)])
		m.Per = []float64{1, 100, 1000}[g.pick(3)]
		if m.Numerator.Kind == model.KindCount && m.Denominator.Kind == model.KindCount && g.pick(2) == 0 {
			// A stratified ratio: its numerator and denominator.
			m.Stratify = append(m.Stratify, []model.Dimension{model.DimSex, model.DimAgeBand, model.DimIMDQuintile}[g.pick(3)])
			g.varStrata(m)
		}
	}
	// A series of a few month ends: each point must agree with the
	// evaluator as of that month end.
	if m.At == model.AnchorAsOf && g.pick(3) == 0 {
		m.Series = 2 + g.pick(5)
	}
	return m
}

// date returns a date near the interesting ones: as-of, baseline, month
// starts and ends around them, and a few random ones.
func (g *gen) date(d model.Dates) time.Time {
	switch g.pick(8) {
	case 0:
		return d.AsOf
	case 1:
		return d.Baseline
	case 2:
		return d.Baseline.AddDate(0, 0, 1)
	case 3:
		return d.AsOf.AddDate(0, 0, 1+g.pick(60))
	case 4:
		f := time.Date(d.AsOf.Year(), d.AsOf.Month()-time.Month(g.pick(14)), 1, 0, 0, 0, 0, time.UTC)
		if g.pick(2) == 0 {
			return f.AddDate(0, 0, -1)
		}
		return f
	}
	return d.AsOf.AddDate(0, 0, -g.pick(1100))
}

func (g *gen) practice(d model.Dates) *dataset.Dataset {
	ds := &dataset.Dataset{}
	quantities := []*float64{nil, ptr(0.0), ptr(-1.0), ptr(1.0), ptr(2.0), ptr(7.0), ptr(14.0), ptr(28.0), ptr(28.5), ptr(56.0), ptr(100.0), ptr(0.5), ptr(2.25), ptr(112.0)}
	values := []*float64{nil, ptr(-1.5), ptr(0.0), ptr(2.0), ptr(3.25), ptr(10.0)}
	var issueID, eventID int64
	// Now and then a practice with nobody registered: every count is 0.
	elsewhere := g.pick(15) == 0
	for id := int64(1); id <= int64(4+g.pick(20)); id++ {
		p := dataset.Patient{ID: id, Sex: []string{"F", "M", "U"}[g.pick(3)]}
		switch g.pick(4) {
		case 0: // about 18 at as-of or baseline
			base := []time.Time{d.AsOf, d.Baseline}[g.pick(2)]
			p.DateOfBirth = base.AddDate(-18, 0, g.pick(5)-2)
		default:
			p.DateOfBirth = d.AsOf.AddDate(-g.pick(95), 0, -g.pick(365))
		}
		if g.pick(6) == 0 {
			p.DateOfDeath = ptr(g.date(d))
		}
		if g.pick(5) != 0 {
			p.IMDDecile = ptr(1 + g.pick(10))
		}
		ds.Patients = append(ds.Patients, p)
		for range g.pick(4) {
			r := dataset.Registration{PatientID: id, Practice: practiceODS, Start: g.date(d).AddDate(0, 0, -g.pick(3000))}
			if elsewhere || g.pick(5) == 0 {
				r.Practice = "X99999"
			}
			if g.pick(2) == 0 {
				end := g.date(d)
				if end.Before(r.Start) {
					end = r.Start
				}
				r.End = &end
			}
			ds.Registrations = append(ds.Registrations, r)
		}
		for range g.pick(12) {
			issueID++
			is := dataset.Issue{ID: issueID, PatientID: id, Date: g.date(d), Code: codePool[g.pick(len(codePool))], Quantity: quantities[g.pick(len(quantities))]}
			if n := len(ds.Issues); n > 0 && ds.Issues[n-1].PatientID == id && g.pick(5) == 0 {
				is.Date, is.Code = ds.Issues[n-1].Date, ds.Issues[n-1].Code // a same-day duplicate
			}
			ds.Issues = append(ds.Issues, is)
		}
		for range g.pick(6) {
			eventID++
			ds.Events = append(ds.Events, dataset.Event{ID: eventID, PatientID: id, Date: g.date(d), Code: codePool[g.pick(len(codePool))], Value: values[g.pick(len(values))]})
		}
	}
	return ds
}

func ptr[T any](v T) *T { return &v }

// ---- reproducer ----

// dump writes c as a fixture file: the search inline and the practice as
// patients (expectations left for the reader to fill in).
func (c *propCase) dump() string {
	var b strings.Builder
	s := c.search
	b.WriteString("steward: search-test/v1\nsearch_inline:\n  steward: search/v1\n  id: prop\n")
	fmt.Fprintf(&b, "  age_bands: %v\n", strings.ReplaceAll(fmt.Sprint(s.AgeBands), " ", ", "))
	b.WriteString("  parameters:\n")
	for _, p := range s.Parameters {
		fmt.Fprintf(&b, "    %s: {default: %s}\n", p.Name, num(p.Default))
	}
	b.WriteString("  codelists:  # codes:\n")
	for _, cl := range s.Codelists {
		fmt.Fprintf(&b, "    %s: {files: [{path: %s.csv, version: prop}]}  # %s\n", cl.Name, cl.Name, strings.Join(cl.Codes, " "))
	}
	b.WriteString("  references:\n")
	var refs []string
	for k, v := range s.References[0].Values {
		refs = append(refs, k+"="+num(v))
	}
	slices.Sort(refs)
	fmt.Fprintf(&b, "    ome: {path: ome.csv, version: prop, key: code, value: value}  # %s\n", strings.Join(refs, " "))
	b.WriteString("  variables:\n")
	for _, v := range s.Variables {
		if a, ok := v.Expr.(*model.Aggregate); ok {
			fmt.Fprintf(&b, "    %s:\n      %s: %s\n", v.Name, a.Op, aggText(a))
			continue
		}
		fmt.Fprintf(&b, "    %s: %s\n", v.Name, exprText(v.Expr))
	}
	b.WriteString("  measures:\n")
	for _, m := range s.Measures {
		fmt.Fprintf(&b, "    - id: %s\n", m.ID)
		if m.At == model.AnchorBaseline {
			b.WriteString("      at: baseline\n")
		}
		switch m.Kind {
		case model.KindCount:
			fmt.Fprintf(&b, "      count: %s\n", whereText(m.Value.Where))
		case model.KindSum:
			fmt.Fprintf(&b, "      sum: {value: %s, where: %s}\n", exprText(m.Value.Value), whereText(m.Value.Where))
		case model.KindRatio:
			fmt.Fprintf(&b, "      ratio:\n        numerator: %s\n        denominator: %s\n        per: %s\n", partText(m.Numerator), partText(m.Denominator), num(m.Per))
		}
		if len(m.Stratify) > 0 {
			fmt.Fprintf(&b, "      stratify: %s\n", strataText(m))
		}
		if m.Series > 0 {
			fmt.Fprintf(&b, "      series: {months: %d}\n", m.Series)
		}
	}
	b.WriteString("cases:\n  - name: property reproducer\n    practice: " + practiceODS + "\n")
	fmt.Fprintf(&b, "    as_of: %s\n    baseline: %s\n", c.dates.AsOf.Format(time.DateOnly), c.dates.Baseline.Format(time.DateOnly))
	if len(c.params) > 0 {
		var ps []string
		for k, v := range c.params {
			ps = append(ps, k+": "+num(v))
		}
		slices.Sort(ps)
		fmt.Fprintf(&b, "    params: {%s}\n", strings.Join(ps, ", "))
	}
	b.WriteString("    patients:\n")
	for _, p := range c.data.Patients {
		fmt.Fprintf(&b, "      - id: %d\n        sex: %s\n        date_of_birth: %s\n", p.ID, p.Sex, p.DateOfBirth.Format(time.DateOnly))
		if p.DateOfDeath != nil {
			fmt.Fprintf(&b, "        date_of_death: %s\n", p.DateOfDeath.Format(time.DateOnly))
		}
		if p.IMDDecile != nil {
			fmt.Fprintf(&b, "        imd_decile: %d\n", *p.IMDDecile)
		}
		var regs, issues, events []string
		for _, r := range c.data.Registrations {
			if r.PatientID == p.ID {
				end := "null"
				if r.End != nil {
					end = r.End.Format(time.DateOnly)
				}
				regs = append(regs, fmt.Sprintf("{practice: %s, start: %s, end: %s}", r.Practice, r.Start.Format(time.DateOnly), end))
			}
		}
		for _, is := range c.data.Issues {
			if is.PatientID == p.ID {
				issues = append(issues, fmt.Sprintf("{date: %s, code: %q, quantity: %s}", is.Date.Format(time.DateOnly), is.Code, nullNum(is.Quantity)))
			}
		}
		for _, ev := range c.data.Events {
			if ev.PatientID == p.ID {
				events = append(events, fmt.Sprintf("{date: %s, code: %q, value: %s}", ev.Date.Format(time.DateOnly), ev.Code, nullNum(ev.Value)))
			}
		}
		for _, l := range []struct {
			key  string
			rows []string
		}{{"registrations", regs}, {"issues", issues}, {"events", events}} {
			if len(l.rows) > 0 {
				fmt.Fprintf(&b, "        %s:\n", l.key)
				for _, r := range l.rows {
					fmt.Fprintf(&b, "          - %s\n", r)
				}
			}
		}
	}
	return b.String()
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func nullNum(f *float64) string {
	if f == nil {
		return "null"
	}
	return num(*f)
}

func whereText(e model.Expr) string {
	if e == nil {
		return `"true"`
	}
	return exprText(e)
}

func partText(a *model.Agg) string {
	if a.Kind == model.KindCount {
		return "{count: " + whereText(a.Where) + "}"
	}
	return "{sum: {value: " + exprText(a.Value) + ", where: " + whereText(a.Where) + "}}"
}

func aggText(a *model.Aggregate) string {
	parts := []string{string(a.Source) + ": " + a.Codelist.Name}
	var w string
	switch a.Window.Kind {
	case model.WindowMonths:
		w = "{months: " + strconv.Itoa(a.Window.N)
	case model.WindowDays:
		w = "{days: " + strconv.Itoa(a.Window.N)
	case model.WindowEver:
		w = "{ever: true"
	case model.WindowBetween:
		w = "{after: baseline"
	}
	switch {
	case a.Window.EndIsLit || len(a.Window.EndShifts) > 0:
		w += ", ending: " + exprText(a.Window.EndDate())
	case a.Window.End == model.AnchorBaseline:
		w += ", ending: baseline"
	}
	parts = append(parts, "window: "+w+"}")
	valueKey := "value: "
	switch a.Of.Kind {
	case model.AttrValue:
		valueKey = "of: "
	case model.AttrRef:
		parts = append(parts, "of: "+a.Of.Ref.Name)
	case model.AttrCategory:
		parts = append(parts, "of: "+a.Of.Category.Name)
	case model.AttrCode:
		if a.Op == model.OpFirst || a.Op == model.OpLast {
			parts = append(parts, "of: code")
		}
	}
	if a.Nth > 1 {
		parts = append(parts, "nth: "+strconv.Itoa(a.Nth))
	}
	switch a.Value {
	case model.ValueQuantity:
		parts = append(parts, valueKey+"quantity")
	case model.ValueQuantityRef:
		parts = append(parts, valueKey+"quantity * "+a.Ref.Name)
	case model.ValueNumericValue:
		parts = append(parts, valueKey+"numeric_value")
	}
	switch a.Filter {
	case model.RowsValueKnown:
		parts = append(parts, "rows: value_known")
	case model.RowsValueUnknown:
		parts = append(parts, "rows: value_unknown")
	}
	if len(a.Where) > 0 {
		// One mapping per column, its comparisons in order (a between is
		// written as >= and <=, which the loader reads the same way).
		var cols []string
		byCol := map[string][]string{}
		for _, c := range a.Where {
			n := c.ColumnName()
			if _, seen := byCol[n]; !seen {
				cols = append(cols, n)
			}
			byCol[n] = append(byCol[n], strconv.Quote(c.Op)+": "+exprText(c.Value))
		}
		var ws []string
		for _, n := range cols {
			ws = append(ws, n+": {"+strings.Join(byCol[n], ", ")+"}")
		}
		parts = append(parts, "rows: {"+strings.Join(ws, ", ")+"}")
	}
	if a.PerDay {
		parts = append(parts, "per_day: true")
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func shiftText(s model.Shift) string {
	if s.N < 0 {
		return fmt.Sprintf(" - %d %s", -s.N, s.Unit)
	}
	return fmt.Sprintf(" + %d %s", s.N, s.Unit)
}

func at(a model.Anchor) string {
	if a == model.AnchorCurrent {
		return ""
	}
	return "@" + a.String()
}

// exprText writes e in the expression syntax, fully parenthesised.
func exprText(e model.Expr) string {
	switch e := e.(type) {
	case *model.NumberLit:
		return num(e.Value)
	case *model.BoolLit:
		return strconv.FormatBool(e.Value)
	case *model.ParamRef:
		return "params." + e.Param.Name
	case *model.VarRef:
		return e.Var.Name + at(e.At)
	case *model.Registered:
		return "registered" + at(e.At)
	case *model.Age:
		return "age" + at(e.At)
	case *model.Not:
		return "not " + exprText(e.X)
	case *model.Logic:
		return "(" + exprText(e.L) + " " + e.Op + " " + exprText(e.R) + ")"
	case *model.Compare:
		return "(" + exprText(e.L) + " " + e.Op + " " + exprText(e.R) + ")"
	case *model.Arith:
		return "(" + exprText(e.L) + " " + e.Op + " " + exprText(e.R) + ")"
	case *model.Aggregate:
		return string(e.Op) + aggText(e)
	case *model.RunDate:
		s := "as_of"
		switch {
		case e.IsLit:
			s = `date("` + e.Lit.Format(time.DateOnly) + `")`
		case e.At == model.AnchorBaseline:
			s = "baseline"
		}
		for _, sh := range e.Shifts {
			s = "(" + s + shiftText(sh) + ")"
		}
		return s
	case *model.DateShift:
		return "(" + exprText(e.X) + shiftText(e.Shift) + ")"
	case *model.DaysBetweenExpr:
		return "days_between(" + exprText(e.A) + ", " + exprText(e.B) + ")"
	case *model.AgeAt:
		return "age_at(" + exprText(e.X) + ")"
	case *model.RegDate:
		return e.Kind.String() + at(e.At)
	case *model.Case:
		var parts []string
		for _, w := range e.Whens {
			parts = append(parts, "{when: "+exprText(w.When)+", then: "+exprText(w.Then)+"}")
		}
		if e.Else != nil {
			parts = append(parts, "{else: "+exprText(e.Else)+"}")
		}
		return "case[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprintf("?%T", e)
}
