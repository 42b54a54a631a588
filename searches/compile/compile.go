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
//
// The compiler is split by concern: codes.go (the aggregates a query
// computes, codes, refs and codes_<source>), sources.go (iss and evt, one
// function per aggregate operation), registrations.go (reg), patients.go
// (pat and the per-patient query), measures.go (val and the final SELECT),
// outputs.go (the result columns and where Evaluate puts each) and expr.go
// (expressions and predicates over pat). Whatever differs between engines
// comes from the Dialect (dialect.go) and the schema profile.
package compile

import (
	"fmt"
	"regexp"
	"strings"
	"time"

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
	// ThroughIndex names the sources whose pass may read its rows through
	// an index on the date (SQLite: a skip-scan of the patient and date
	// index) instead of in one scan; see storage.go. Only the time
	// differs.
	ThroughIndex map[model.Source]bool
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

// compiler compiles one query of a plan. Expressions are compiled first
// (expr, pred), registering the aggregates, codelists and anchors they
// read; ctes then builds the passes that compute them.
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
	// registration dates (kind at anchor) pat must carry from reg, and
	// whether expressions read the date of birth (age_at).
	regDates map[regDateKey]bool
	dob      bool

	// series is set when the query is one point of a series query
	// (series.go): every pass carries the point column and joins
	// month_ends (me); outside is the text of every part of the query
	// where me is not in scope.
	series  bool
	outside []string
	// wide is set when the query is one point of a wide series query
	// (series.go): the same query at each month end, side by side in
	// columns; source passes read the rows of every month end and each
	// aggregate bounds its own.
	wide bool
	// lows and highs are the parameters that bound the rows of every
	// month end: SeriesSQL binds the earliest (lows) or latest (highs) of
	// their values at the month ends, not a column of month_ends.
	lows, highs map[int]bool
}

// envelope binds date d as a bound of the rows a pass reads at any month
// end of a series: the lowest (low) or highest of its values.
func (c *compiler) envelope(d time.Time, low bool) string {
	t := c.b.Date(d)
	m := &c.highs
	if low {
		m = &c.lows
	}
	if *m == nil {
		*m = map[int]bool{}
	}
	for _, i := range tokensIn(t) {
		(*m)[i] = true
	}
	return t
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
		reg: map[model.Anchor]bool{}, age: map[model.Anchor]bool{}, regDates: map[regDateKey]bool{},
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

// cte is one common table expression of a query.
type cte struct {
	name, body   string
	materialized bool
	// perDate lets a wide series write the CTE once per date when its
	// SQL reads the date (wide.go): cheap for a table read once per
	// patient, not for a pass over issues or events.
	perDate bool
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
	return append(out, pat...), lk, nil
}

func (c *compiler) fragment(table string) (string, error) {
	f, err := Fragment(c.prof, c.d, table, c.b, c.opts.Dates.AsOf, c.opts.Practice)
	c.outside = append(c.outside, f)
	return f, err
}

// Fragment returns the SQL of a logical table of prof in dialect d, with
// every placeholder a bind parameter of b: {{as_of}} the date asOf,
// {{practice_ods}} the text practice, and each profile parameter its
// bound value. Nothing from the profile's parameters is spliced into SQL.
func Fragment(prof *profile.Profile, d Dialect, table string, b *Binder, asOf time.Time, practice string) (string, error) {
	return prof.Expand(table, d.Name(), func(h profile.Placeholder) (string, error) {
		switch h.Name {
		case profile.AsOfName:
			return b.Date(asOf), nil
		case profile.PracticeODSName:
			return b.Text(practice), nil
		}
		switch v := h.Value.(type) {
		case int64:
			return b.Int(v), nil
		case float64:
			return b.Number(v), nil
		case string:
			return b.Text(v), nil
		case time.Time:
			return b.Date(v), nil
		}
		return "", fmt.Errorf("profile %s: parameter %s has a value of type %T", prof.Name, h.Name, h.Value)
	})
}

var unsafeComment = regexp.MustCompile(`[^A-Za-z0-9_@:,=.()+* <>!/-]`)

// comment makes text safe inside a -- comment.
func comment(s string) string {
	return unsafeComment.ReplaceAllString(s, "?")
}

// indent indents the lines of s after the first by prefix.
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
