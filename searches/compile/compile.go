// Package compile turns a resolved search (model.Plan) into SQL for one
// dialect through a schema profile, and runs it: an engine.Engine over a
// *sql.DB.
//
// The generated query is one SELECT (on SQL Server preceded by statements
// that fill session temporary tables with the codelists and reference
// tables, on the same connection). Its common table expressions make a
// handful of passes:
//
//   - codes, refs: the codelists and reference tables, from bind parameters;
//   - codes_issues, codes_events: one row per code a source's aggregates
//     read, with a 0/1 flag per codelist and the reference values of the
//     code;
//   - reg: one pass over registrations at the practice, grouped by patient
//     (the universe: every patient with a spell at the practice), with a
//     flag per anchor date for a spell covering it;
//   - iss, evt: one GROUP BY patient pass over medication issues and one
//     over clinical events, joined to their codes, restricted to dates on or
//     before the as-of date (and on or after the earliest window start),
//     computing every aggregate of the plan with conditional aggregation;
//   - pat: the universe joined to patients, iss and evt: one row per
//     patient with registered, age and every aggregate;
//   - val: every measure's where/value expression and stratum per patient.
//
// The final SELECT computes every measure and every stratum cell with
// conditional aggregation and returns one row. Every value (dates, the ODS
// code, codes, reference values, parameter values, number literals) is a
// bind parameter; identifiers come only from the profile.
package compile

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/profile"
)

// Options are the run-specific values a statement binds.
type Options struct {
	// Practice is the practice's ODS code.
	Practice string
	Dates    model.Dates
	// Params override parameter defaults by name.
	Params map[string]float64
}

// maxEachMonthFlags is the longest each_month window computed with one flag
// per month; longer ones count distinct months.
const maxEachMonthFlags = 36

// Statement is the SQL of one evaluation: setup statements, the query and
// teardown statements, all run on one connection.
type Statement struct {
	Dialect  Dialect
	Profile  string
	Setup    []Exec
	Query    Exec
	Teardown []Exec
	// Columns names the query's result columns.
	Columns []string

	outputs []output // how Evaluate fills a Result from the row
	types   []model.Type
}

// output says where one result column of an Evaluate query goes.
type output struct {
	measure int    // index in the plan, -1 for universe/rows
	field   string // "universe", "rows", "value", "numerator", "denominator", "stratum"
	dim     model.Dimension
	label   string
}

// SQL compiles the measures of plan.
func SQL(plan *model.Plan, d Dialect, prof *profile.Profile, opts Options) (*Statement, error) {
	c, err := newCompiler(plan, d, prof, opts)
	if err != nil {
		return nil, err
	}
	return c.measures()
}

// PatientsSQL compiles a per-patient query: for every patient of the
// universe for whom where holds (every patient when where is nil), the
// values of exprs, ordered by patient id. Expressions are resolved at the
// as-of date first (a no-op for resolved ones).
func PatientsSQL(plan *model.Plan, d Dialect, prof *profile.Profile, opts Options, where model.Expr, exprs []model.Expr) (*Statement, error) {
	c, err := newCompiler(plan, d, prof, opts)
	if err != nil {
		return nil, err
	}
	return c.patients(where, exprs)
}

type aggCol struct {
	agg  *model.Aggregate
	name string // a<k>
}

type compiler struct {
	plan *model.Plan
	d    Dialect
	prof *profile.Profile
	opts Options
	b    *Binder

	aggs     map[string]*aggCol
	aggOrder []*aggCol
	lists    map[string]int // codelist name -> list id
	listRows [][]string
	refs     map[string]int // reference name -> ref id
	refRows  []map[string]float64

	// anchors whose registered/age columns pat must compute.
	reg, age map[model.Anchor]bool
}

func newCompiler(plan *model.Plan, d Dialect, prof *profile.Profile, opts Options) (*compiler, error) {
	if plan == nil || plan.Search == nil {
		return nil, fmt.Errorf("compile: no plan")
	}
	if d == nil || prof == nil {
		return nil, fmt.Errorf("compile: a dialect and a profile are required")
	}
	if opts.Dates.AsOf.IsZero() {
		return nil, fmt.Errorf("compile: no as-of date")
	}
	if opts.Practice == "" {
		return nil, fmt.Errorf("compile: no practice ODS code")
	}
	return &compiler{
		plan: plan, d: d, prof: prof, opts: opts, b: NewBinder(d),
		aggs: map[string]*aggCol{}, lists: map[string]int{}, refs: map[string]int{},
		reg: map[model.Anchor]bool{}, age: map[model.Anchor]bool{},
	}, nil
}

func anchorOf(a model.Anchor) model.Anchor {
	if a == model.AnchorCurrent {
		return model.AnchorAsOf
	}
	return a
}

func anchorName(a model.Anchor) string {
	if anchorOf(a) == model.AnchorBaseline {
		return "baseline"
	}
	return "as_of"
}

// date returns the concrete date of an anchor, failing when the run has no
// baseline date but the search needs one.
func (c *compiler) date(a model.Anchor) (time.Time, error) {
	a = anchorOf(a)
	if a == model.AnchorBaseline && c.opts.Dates.Baseline.IsZero() {
		return time.Time{}, fmt.Errorf("compile: the search uses the baseline date but the run has none")
	}
	return c.opts.Dates.Date(a), nil
}

// ---- common table expressions ----

type cte struct {
	name, body   string
	materialized bool
}

// ctes builds every CTE up to pat, and the lookups' setup statements.
func (c *compiler) ctes() ([]cte, *Lookups, error) {
	out, lk, err := c.lookups()
	if err != nil {
		return nil, nil, err
	}

	var pi patInputs
	for _, src := range sources {
		pass, err := c.sourcePass(src, &pi)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, pass...)
	}

	reg, err := c.registrations()
	if err != nil {
		return nil, nil, err
	}
	out = append(out, reg)

	pat, err := c.pat(pi)
	if err != nil {
		return nil, nil, err
	}
	return append(out, pat), lk, nil
}

func (c *compiler) fragment(table string) (string, error) {
	s, err := c.prof.Fragment(table, c.d.Name())
	if err != nil {
		return "", err
	}
	if strings.Contains(s, profile.AsOf) {
		s = strings.ReplaceAll(s, profile.AsOf, c.b.Date(c.opts.Dates.AsOf))
	}
	return s, nil
}

var unsafeComment = regexp.MustCompile(`[^A-Za-z0-9_@:,=.()+* <>!/-]`)

// comment makes text safe inside a -- comment.
func comment(s string) string {
	return unsafeComment.ReplaceAllString(s, "?")
}

func indent(s, prefix string) string {
	s = strings.TrimSpace(s)
	return strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// with renders the WITH clause.
func (c *compiler) with(ctes []cte) string {
	var b strings.Builder
	b.WriteString("WITH\n")
	for i, t := range ctes {
		m := ""
		if t.materialized {
			m = c.d.Materialized()
		}
		fmt.Fprintf(&b, "%s AS %s(\n    %s\n)", t.name, m, t.body)
		if i < len(ctes)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// ---- measures ----

func (c *compiler) measures() (*Statement, error) {
	var all []model.Expr
	for _, m := range c.plan.Measures {
		for _, a := range []*model.Agg{m.Value, m.Numerator, m.Denominator} {
			if a == nil {
				continue
			}
			if a.Where != nil {
				all = append(all, a.Where)
			}
			if a.Value != nil {
				all = append(all, a.Value)
			}
		}
	}
	if err := c.collect(all); err != nil {
		return nil, err
	}

	// val columns, deduplicated by key.
	type valCol struct{ name, sql string }
	var vals []valCol
	byKey := map[string]string{}
	column := func(prefix string, e model.Expr) (string, error) {
		k := prefix + model.Key(e)
		if n, ok := byKey[k]; ok {
			return n, nil
		}
		s, err := c.expr(e)
		if err != nil {
			return "", err
		}
		n := prefix + strconv.Itoa(len(vals))
		if prefix == "v" {
			s = c.d.Float(s)
		}
		vals = append(vals, valCol{n, s})
		byKey[k] = n
		return n, nil
	}
	strata := map[string]string{} // dimension@anchor -> column
	stratum := func(dim model.Dimension, at model.Anchor) (string, error) {
		at = anchorOf(at)
		key := string(dim)
		if dim == model.DimAgeBand {
			key += "_" + anchorName(at)
		}
		if n, ok := strata[key]; ok {
			return n, nil
		}
		var s string
		switch dim {
		case model.DimSex:
			var b strings.Builder
			b.WriteString("CASE")
			other := -1
			for i, l := range model.SexLabels {
				if l == model.Sex("") {
					other = i
					continue
				}
				fmt.Fprintf(&b, " WHEN p.sex = %s THEN %d", c.b.Text(l), i)
			}
			if other < 0 {
				return "", fmt.Errorf("compile: no catch-all sex label")
			}
			fmt.Fprintf(&b, " ELSE %d END", other)
			s = b.String()
		case model.DimIMDQuintile:
			labels := model.IMDQuintileLabels
			index := map[string]int{}
			for i, l := range labels {
				index[l] = i
			}
			groups := map[int][]string{}
			for d := 1; d <= 10; d++ {
				i, ok := index[model.IMDQuintile(d, true)]
				if !ok {
					return "", fmt.Errorf("compile: IMD decile %d has no label", d)
				}
				groups[i] = append(groups[i], strconv.Itoa(d))
			}
			var b strings.Builder
			b.WriteString("CASE")
			for i := range labels {
				if g := groups[i]; len(g) > 0 {
					fmt.Fprintf(&b, " WHEN p.imd_decile IN (%s) THEN %d", strings.Join(g, ", "), i)
				}
			}
			fmt.Fprintf(&b, " ELSE %d END", index[model.IMDQuintile(0, false)])
			s = b.String()
		case model.DimAgeBand:
			if _, err := c.date(at); err != nil {
				return "", err
			}
			c.age[at] = true
			bands := c.plan.Search.AgeBands
			age := "p.age_" + anchorName(at)
			if len(bands) == 0 {
				s = "0"
				break
			}
			var b strings.Builder
			fmt.Fprintf(&b, "CASE WHEN %s IS NULL THEN -1", age)
			for i, lo := range bands {
				fmt.Fprintf(&b, " WHEN %s < %s THEN %d", age, c.b.Int(int64(lo)), i)
			}
			fmt.Fprintf(&b, " ELSE %d END", len(bands))
			s = b.String()
		default:
			return "", fmt.Errorf("compile: unknown stratification %q", dim)
		}
		n := "s_" + key
		vals = append(vals, valCol{n, s})
		strata[key] = n
		return n, nil
	}

	var sel []string
	var outs []output
	add := func(sql string, o output) {
		sel = append(sel, sql)
		outs = append(outs, o)
	}
	add("COUNT(*)", output{measure: -1, field: "universe"})
	add("SUM(v.n_rows)", output{measure: -1, field: "rows_read"})
	aggSQL := func(a *model.Agg) (string, string, error) {
		w := ""
		if a.Where != nil {
			n, err := column("w", a.Where)
			if err != nil {
				return "", "", err
			}
			w = "v." + n + " = 1"
		}
		switch a.Kind {
		case model.KindCount:
			if w == "" {
				return "COUNT(*)", w, nil
			}
			// SUM over no rows is NULL; a count over nobody is 0.
			return "COALESCE(SUM(CASE WHEN " + w + " THEN 1 ELSE 0 END), 0)", w, nil
		case model.KindSum:
			if a.Value == nil {
				return "", "", fmt.Errorf("compile: sum without a value")
			}
			n, err := column("v", a.Value)
			if err != nil {
				return "", "", err
			}
			inner := "v." + n
			if w != "" {
				inner = "CASE WHEN " + w + " THEN v." + n + " ELSE 0 END"
			}
			return c.d.Round("COALESCE(SUM("+inner+"), 0)", engine.RoundSum), w, nil
		}
		return "", "", fmt.Errorf("compile: unknown aggregate kind %q", a.Kind)
	}
	for i, m := range c.plan.Measures {
		parts := []struct {
			field string
			agg   *model.Agg
		}{{"value", m.Value}, {"numerator", m.Numerator}, {"denominator", m.Denominator}}
		for _, p := range parts {
			if p.agg == nil {
				continue
			}
			s, w, err := aggSQL(p.agg)
			if err != nil {
				return nil, fmt.Errorf("measure %s: %w", m.ID, err)
			}
			add(s, output{measure: i, field: p.field})
			if p.field != "value" || p.agg.Kind != model.KindCount {
				continue
			}
			at := p.agg.At
			if at == model.AnchorCurrent {
				at = m.At
			}
			for _, dim := range m.Stratify {
				col, err := stratum(dim, at)
				if err != nil {
					return nil, fmt.Errorf("measure %s: %w", m.ID, err)
				}
				for li, l := range model.Labels(dim, c.plan.Search.AgeBands) {
					cond := fmt.Sprintf("v.%s = %d", col, li)
					if w != "" {
						cond = w + " AND " + cond
					}
					add("COALESCE(SUM(CASE WHEN "+cond+" THEN 1 ELSE 0 END), 0)", output{measure: i, field: "stratum", dim: dim, label: l})
				}
			}
		}
	}

	ctes, lk, err := c.ctes()
	if err != nil {
		return nil, err
	}
	var vb strings.Builder
	vb.WriteString("SELECT p.patient_id,\n           p.n_rows")
	for _, v := range vals {
		fmt.Fprintf(&vb, ",\n           %s AS %s", v.sql, v.name)
	}
	vb.WriteString("\n    FROM pat AS p")
	ctes = append(ctes, cte{name: "val", body: vb.String()})

	var q strings.Builder
	q.WriteString(c.with(ctes))
	var cols []string
	q.WriteString("SELECT ")
	for i, s := range sel {
		name := outputName(c.plan, outs[i])
		cols = append(cols, name)
		if i > 0 {
			q.WriteString(",\n       ")
		}
		fmt.Fprintf(&q, "%s AS %s", s, name)
	}
	q.WriteString("\nFROM val AS v")
	return c.finish(q.String(), lk, cols, outs, nil)
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]`)

// outputName is a stable, safe column alias for an output.
func outputName(plan *model.Plan, o output) string {
	if o.measure < 0 {
		return o.field
	}
	id := nonIdent.ReplaceAllString(strings.ToLower(plan.Measures[o.measure].ID), "_")
	name := "m" + strconv.Itoa(o.measure) + "_" + id + "__" + o.field
	if o.field == "stratum" {
		name = "m" + strconv.Itoa(o.measure) + "_" + id + "__" + string(o.dim) + "_" + nonIdent.ReplaceAllString(strings.ToLower(o.label), "_")
		name = nonIdent.ReplaceAllString(name, "_")
	}
	return name
}

func (c *compiler) finish(text string, lk *Lookups, cols []string, outs []output, types []model.Type) (*Statement, error) {
	q, err := c.b.Finish(text)
	if err != nil {
		return nil, err
	}
	return &Statement{
		Dialect: c.d, Profile: c.prof.Name,
		Setup: lk.Setup, Query: q, Teardown: lk.Teardown,
		Columns: cols, outputs: outs, types: types,
	}, nil
}
