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
	"sort"
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

// collect registers the aggregates, codelists and references of exprs, in
// a stable order (by model.Key).
func (c *compiler) collect(exprs []model.Expr) error {
	var found []*model.Aggregate
	seen := map[string]bool{}
	for _, e := range exprs {
		var err error
		model.Walk(e, func(x model.Expr) {
			switch x := x.(type) {
			case *model.Aggregate:
				k := model.Key(x)
				if !seen[k] {
					seen[k] = true
					found = append(found, x)
				}
			case *model.VarRef:
				err = fmt.Errorf("compile: unresolved variable reference %s (resolve the plan first)", x.Var.Name)
			}
		})
		if err != nil {
			return err
		}
	}
	sort.Slice(found, func(i, j int) bool { return model.Key(found[i]) < model.Key(found[j]) })
	for _, a := range found {
		if a.Codelist == nil {
			return fmt.Errorf("compile: %s: aggregate without a codelist", a.P)
		}
		if a.Source != model.Issues && a.Source != model.Events {
			return fmt.Errorf("compile: %s: unknown source %q", a.P, a.Source)
		}
		ac := &aggCol{agg: a, name: "a" + strconv.Itoa(len(c.aggOrder))}
		c.aggs[model.Key(a)] = ac
		c.aggOrder = append(c.aggOrder, ac)
		if _, ok := c.lists[a.Codelist.Name]; !ok {
			c.lists[a.Codelist.Name] = len(c.listRows)
			c.listRows = append(c.listRows, dedupe(a.Codelist.Codes))
		}
		if a.Value == model.ValueQuantityRef {
			if a.Ref == nil {
				return fmt.Errorf("compile: %s: quantity x reference without a reference", a.P)
			}
			if _, ok := c.refs[a.Ref.Name]; !ok {
				c.refs[a.Ref.Name] = len(c.refRows)
				c.refRows = append(c.refRows, a.Ref.Values)
			}
		}
	}
	return nil
}

func dedupe(codes []string) []string {
	out := make([]string, 0, len(codes))
	seen := make(map[string]bool, len(codes))
	for _, s := range codes {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// ---- expressions (over the columns of pat, alias p) ----
//
// A boolean compiles to a predicate that is never unknown (pred), and to a
// 0/1 integer only where a value is needed (expr), so that nesting stays
// shallow: T-SQL allows CASE expressions nested 10 deep only.

// expr compiles e to a value: numbers and dates as themselves, booleans as
// 0/1 integers.
func (c *compiler) expr(e model.Expr) (string, error) {
	switch e := e.(type) {
	case *model.NumberLit:
		return c.b.Number(e.Value), nil
	case *model.ParamRef:
		v := e.Param.Default
		if o, ok := c.opts.Params[e.Param.Name]; ok {
			v = o
		}
		return c.b.Number(v), nil
	case *model.Arith:
		l, r, err := c.pair(e.L, e.R)
		if err != nil {
			return "", err
		}
		switch e.Op {
		case "+", "-", "*":
			return "(" + l + " " + e.Op + " " + r + ")", nil
		case "/":
			return "(" + c.d.Float(l) + " / NULLIF(" + c.d.Float(r) + ", 0))", nil
		}
		return "", fmt.Errorf("compile: %s: unknown arithmetic operator %q", e.P, e.Op)
	case *model.Age:
		a := anchorOf(e.At)
		if _, err := c.date(a); err != nil {
			return "", err
		}
		c.age[a] = true
		return "p.age_" + anchorName(a), nil
	case *model.Aggregate:
		if e.Type() == model.Bool {
			break
		}
		ac, ok := c.aggs[model.Key(e)]
		if !ok {
			return "", fmt.Errorf("compile: %s: aggregate %s was not collected", e.P, model.Key(e))
		}
		return "p." + ac.name, nil
	case *model.VarRef:
		return "", fmt.Errorf("compile: unresolved variable reference %s", e.Var.Name)
	case nil:
		return "", fmt.Errorf("compile: missing expression")
	}
	if e.Type() != model.Bool {
		return "", fmt.Errorf("compile: unknown expression %T", e)
	}
	p, err := c.pred(e)
	if err != nil {
		return "", err
	}
	return "CASE WHEN " + p + " THEN 1 ELSE 0 END", nil
}

// pred compiles a boolean to a SQL condition that is true or false, never
// unknown (a comparison with a null operand is false).
func (c *compiler) pred(e model.Expr) (string, error) {
	switch e := e.(type) {
	case *model.BoolLit:
		if e.Value {
			return "1 = 1", nil
		}
		return "1 = 0", nil
	case *model.Not:
		x, err := c.pred(e.X)
		if err != nil {
			return "", err
		}
		return "NOT (" + x + ")", nil
	case *model.Logic:
		l, err := c.pred(e.L)
		if err != nil {
			return "", err
		}
		r, err := c.pred(e.R)
		if err != nil {
			return "", err
		}
		switch e.Op {
		case "and":
			return "(" + l + " AND " + r + ")", nil
		case "or":
			return "(" + l + " OR " + r + ")", nil
		}
		return "", fmt.Errorf("compile: %s: unknown logical operator %q", e.P, e.Op)
	case *model.Compare:
		l, r, err := c.pair(e.L, e.R)
		if err != nil {
			return "", err
		}
		op := e.Op
		switch op {
		case "<", "<=", ">", ">=", "=":
		case "!=":
			op = "<>"
		default:
			return "", fmt.Errorf("compile: %s: unknown comparison %q", e.P, e.Op)
		}
		return "(" + l + " IS NOT NULL AND " + r + " IS NOT NULL AND " + l + " " + op + " " + r + ")", nil
	case *model.Registered:
		a := anchorOf(e.At)
		if _, err := c.date(a); err != nil {
			return "", err
		}
		c.reg[a] = true
		return "p.registered_" + anchorName(a) + " = 1", nil
	case *model.Aggregate:
		if e.Type() != model.Bool {
			return "", fmt.Errorf("compile: %s: %s is not boolean", e.P, model.Key(e))
		}
		ac, ok := c.aggs[model.Key(e)]
		if !ok {
			return "", fmt.Errorf("compile: %s: aggregate %s was not collected", e.P, model.Key(e))
		}
		return "p." + ac.name + " = 1", nil
	case *model.VarRef:
		return "", fmt.Errorf("compile: unresolved variable reference %s", e.Var.Name)
	case nil:
		return "", fmt.Errorf("compile: missing expression")
	}
	return "", fmt.Errorf("compile: %T is not a boolean expression", e)
}

func (c *compiler) pair(l, r model.Expr) (string, string, error) {
	ls, err := c.expr(l)
	if err != nil {
		return "", "", err
	}
	rs, err := c.expr(r)
	if err != nil {
		return "", "", err
	}
	return ls, rs, nil
}

// ---- common table expressions ----

type cte struct {
	name, body   string
	materialized bool
}

// ctes builds every CTE up to pat, and the lookups' setup statements.
func (c *compiler) ctes() ([]cte, *Lookups, error) {
	var out []cte
	asOf := c.opts.Dates.AsOf
	var lk *Lookups
	if len(c.aggOrder) > 0 {
		var err error
		lk, err = c.d.Lookups(c.b, c.listRows, c.refRows)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, cte{name: "codes", body: lk.Codes, materialized: true})
		if len(c.refRows) > 0 {
			out = append(out, cte{name: "refs", body: lk.Refs, materialized: true})
		}
	} else {
		lk = &Lookups{}
	}

	// Per-source passes.
	type source struct {
		src                   model.Source
		table, alias, cteName string
		codesName             string
		dateCol, codeCol      string
	}
	sources := []source{
		{model.Issues, profile.MedicationIssues, "i", "iss", "codes_issues", "issue_date", "dmd_code"},
		{model.Events, profile.ClinicalEvents, "e", "evt", "codes_events", "event_date", "snomed_code"},
	}
	var joins []string
	var patCols []string
	var rowsCols []string
	for _, s := range sources {
		var aggs []*aggCol
		for _, ac := range c.aggOrder {
			if ac.agg.Source == s.src {
				aggs = append(aggs, ac)
			}
		}
		if len(aggs) == 0 {
			continue
		}
		// codes_<source>: one row per code, a flag per list, the reference values.
		var listIDs, refIDs []int
		seenList, seenRef := map[int]bool{}, map[int]bool{}
		for _, ac := range aggs {
			l := c.lists[ac.agg.Codelist.Name]
			if !seenList[l] {
				seenList[l] = true
				listIDs = append(listIDs, l)
			}
			if ac.agg.Value == model.ValueQuantityRef {
				r := c.refs[ac.agg.Ref.Name]
				if !seenRef[r] {
					seenRef[r] = true
					refIDs = append(refIDs, r)
				}
			}
		}
		sort.Ints(listIDs)
		sort.Ints(refIDs)
		var cb strings.Builder
		cb.WriteString("SELECT k.code")
		for _, l := range listIDs {
			fmt.Fprintf(&cb, ",\n           MAX(CASE WHEN k.list_id = %d THEN 1 ELSE 0 END) AS l%d", l, l)
		}
		for _, r := range refIDs {
			fmt.Fprintf(&cb, ",\n           MAX(f%d.value) AS r%d", r, r)
		}
		cb.WriteString("\n    FROM codes AS k")
		for _, r := range refIDs {
			fmt.Fprintf(&cb, "\n    LEFT JOIN refs AS f%d ON f%d.ref_id = %d AND f%d.code = k.code", r, r, r, r)
		}
		ids := make([]string, len(listIDs))
		for i, l := range listIDs {
			ids[i] = strconv.Itoa(l)
		}
		fmt.Fprintf(&cb, "\n    WHERE k.list_id IN (%s)\n    GROUP BY k.code", strings.Join(ids, ", "))
		out = append(out, cte{name: s.codesName, body: cb.String(), materialized: true})

		// The pass.
		frag, err := c.fragment(s.table)
		if err != nil {
			return nil, nil, err
		}
		col := s.alias + "." + s.dateCol
		var sb strings.Builder
		pid := c.d.Unindexed(s.alias + ".patient_id")
		// Select the plain column (the unary plus would make the later join
		// on it unindexable in SQLite); group by the unindexed one.
		fmt.Fprintf(&sb, "SELECT %s.patient_id,\n           COUNT(*) AS n_rows", s.alias)
		minFrom, allFrom := time.Time{}, true
		for _, ac := range aggs {
			a := ac.agg
			from, to, hasFrom, err := c.window(a.Window)
			if err != nil {
				return nil, nil, err
			}
			if !hasFrom {
				allFrom = false
			} else if minFrom.IsZero() || from.Before(minFrom) {
				minFrom = from
			}
			value, err := c.rowValue(a, s.alias)
			if err != nil {
				return nil, nil, err
			}
			listCond := fmt.Sprintf("c.l%d = 1", c.lists[a.Codelist.Name])
			var filter []string
			switch a.Filter {
			case model.RowsValueKnown, model.RowsValueUnknown:
				if value == "" {
					return nil, nil, fmt.Errorf("compile: %s: a rows filter needs a value", a.P)
				}
				if a.Filter == model.RowsValueKnown {
					filter = []string{value + " IS NOT NULL"}
				} else {
					filter = []string{value + " IS NULL"}
				}
			}
			between := func(from, to time.Time, hasFrom bool) []string {
				conds := []string{listCond}
				if hasFrom {
					conds = append(conds, col+" >= "+c.b.Date(from))
				}
				if !to.Equal(asOf) {
					conds = append(conds, col+" <= "+c.b.Date(to))
				}
				return append(conds, filter...)
			}
			conds := between(from, to, hasFrom)
			cond := strings.Join(conds, " AND ")
			fmt.Fprintf(&sb, ",\n           -- %s: %s", ac.name, comment(model.Key(a)))
			switch a.Op {
			case model.OpExists:
				fmt.Fprintf(&sb, "\n           MAX(CASE WHEN %s THEN 1 ELSE 0 END) AS %s", cond, ac.name)
				patCols = append(patCols, fmt.Sprintf("COALESCE(%s.%s, 0) AS %s", s.alias, ac.name, ac.name))
			case model.OpCount:
				fmt.Fprintf(&sb, "\n           SUM(CASE WHEN %s THEN 1 ELSE 0 END) AS %s", cond, ac.name)
				patCols = append(patCols, fmt.Sprintf("COALESCE(%s.%s, 0) AS %s", s.alias, ac.name, ac.name))
			case model.OpSum:
				if value == "" {
					return nil, nil, fmt.Errorf("compile: %s: sum without a value", a.P)
				}
				sum := fmt.Sprintf("SUM(CASE WHEN %s THEN COALESCE(%s, 0) ELSE 0 END)", cond, value)
				if a.PerDay {
					days := a.Window.Days(c.opts.Dates)
					if days <= 0 {
						return nil, nil, fmt.Errorf("compile: %s: per_day needs a window with days", a.P)
					}
					sum = sum + " / " + c.b.Number(float64(days))
				}
				fmt.Fprintf(&sb, "\n           %s AS %s", c.d.Round(c.d.Float(sum), engine.RoundSum), ac.name)
				patCols = append(patCols, fmt.Sprintf("COALESCE(%s.%s, 0) AS %s", s.alias, ac.name, ac.name))
			case model.OpFirst, model.OpLast:
				fn := "MIN"
				if a.Op == model.OpLast {
					fn = "MAX"
				}
				fmt.Fprintf(&sb, "\n           %s(CASE WHEN %s THEN %s END) AS %s", fn, cond, col, ac.name)
				patCols = append(patCols, fmt.Sprintf("%s.%s AS %s", s.alias, ac.name, ac.name))
			case model.OpEachMonth:
				if a.Window.Kind != model.WindowMonths {
					return nil, nil, fmt.Errorf("compile: %s: each_month needs a months window", a.P)
				}
				months := a.Window.Months(c.opts.Dates)
				if len(months) <= maxEachMonthFlags {
					var parts []string
					for j, m := range months {
						end := to
						if j+1 < len(months) {
							end = months[j+1].AddDate(0, 0, -1)
						}
						mc := between(m, end, true)
						if j > 0 {
							sb.WriteString(",")
						}
						fmt.Fprintf(&sb, "\n           MAX(CASE WHEN %s THEN 1 ELSE 0 END) AS %s_m%d", strings.Join(mc, " AND "), ac.name, j)
						parts = append(parts, fmt.Sprintf("%s.%s_m%d = 1", s.alias, ac.name, j))
					}
					patCols = append(patCols, fmt.Sprintf("CASE WHEN %s THEN 1 ELSE 0 END AS %s", strings.Join(parts, " AND "), ac.name))
				} else {
					fmt.Fprintf(&sb, "\n           COUNT(DISTINCT CASE WHEN %s THEN %s END) AS %s_months", cond, c.d.MonthKey(col), ac.name)
					patCols = append(patCols, fmt.Sprintf("CASE WHEN %s.%s_months = %s THEN 1 ELSE 0 END AS %s", s.alias, ac.name, c.b.Int(int64(len(months))), ac.name))
				}
			default:
				return nil, nil, fmt.Errorf("compile: %s: unknown aggregate %q", a.P, a.Op)
			}
		}
		fmt.Fprintf(&sb, "\n    FROM (%s) AS %s\n    JOIN %s AS c ON c.code = %s.%s\n    WHERE %s <= %s",
			indent(frag, "          "), s.alias, s.codesName, s.alias, s.codeCol, c.d.Unindexed(col), c.b.Date(asOf))
		if allFrom && !minFrom.IsZero() {
			fmt.Fprintf(&sb, " AND %s >= %s", c.d.Unindexed(col), c.b.Date(minFrom))
		}
		fmt.Fprintf(&sb, "\n    GROUP BY %s", pid)
		out = append(out, cte{name: s.cteName, body: sb.String()})
		joins = append(joins, fmt.Sprintf("LEFT JOIN %s AS %s ON %s.patient_id = r.patient_id", s.cteName, s.alias, s.alias))
		rowsCols = append(rowsCols, fmt.Sprintf("COALESCE(%s.n_rows, 0)", s.alias))
	}

	// reg: the universe.
	regFrag, err := c.fragment(profile.Registrations)
	if err != nil {
		return nil, nil, err
	}
	anchors := []model.Anchor{model.AnchorAsOf, model.AnchorBaseline}
	var rb strings.Builder
	rb.WriteString("SELECT g.patient_id")
	for _, a := range anchors {
		if !c.reg[a] {
			continue
		}
		d, err := c.date(a)
		if err != nil {
			return nil, nil, err
		}
		t := c.b.Date(d)
		fmt.Fprintf(&rb, ",\n           MAX(CASE WHEN g.start_date <= %s AND (g.end_date IS NULL OR g.end_date >= %s) THEN 1 ELSE 0 END) AS reg_%s", t, t, anchorName(a))
	}
	fmt.Fprintf(&rb, "\n    FROM (%s) AS g\n    WHERE g.practice_ods = %s\n    GROUP BY g.patient_id", indent(regFrag, "          "), c.b.Text(c.opts.Practice))
	out = append(out, cte{name: "reg", body: rb.String()})

	// pat: one row per patient of the universe.
	patFrag, err := c.fragment(profile.Patients)
	if err != nil {
		return nil, nil, err
	}
	var pb strings.Builder
	pb.WriteString("SELECT r.patient_id,\n           x.sex,\n           x.imd_decile")
	for _, a := range anchors {
		if !c.reg[a] {
			continue
		}
		d, _ := c.date(a)
		fmt.Fprintf(&pb, ",\n           CASE WHEN r.reg_%s = 1 AND (x.date_of_death IS NULL OR x.date_of_death > %s) THEN 1 ELSE 0 END AS registered_%s",
			anchorName(a), c.b.Date(d), anchorName(a))
	}
	for _, a := range anchors {
		if !c.age[a] {
			continue
		}
		d, _ := c.date(a)
		fmt.Fprintf(&pb, ",\n           %s - %s - CASE WHEN %s > %s THEN 1 ELSE 0 END AS age_%s",
			c.b.Int(int64(d.Year())), c.d.Year("x.date_of_birth"), c.d.MonthDay("x.date_of_birth"),
			c.b.Int(int64(int(d.Month())*100+d.Day())), anchorName(a))
	}
	for _, col := range patCols {
		pb.WriteString(",\n           " + col)
	}
	if len(rowsCols) == 0 {
		pb.WriteString(",\n           0 AS n_rows")
	} else {
		pb.WriteString(",\n           " + strings.Join(rowsCols, " + ") + " AS n_rows")
	}
	fmt.Fprintf(&pb, "\n    FROM reg AS r\n    LEFT JOIN (%s) AS x ON x.patient_id = r.patient_id", indent(patFrag, "          "))
	for _, j := range joins {
		pb.WriteString("\n    " + j)
	}
	out = append(out, cte{name: "pat", body: pb.String(), materialized: true})
	return out, lk, nil
}

// rowValue is the SQL of an aggregate's row value, NULL when unknown, or ""
// when the aggregate has none.
func (c *compiler) rowValue(a *model.Aggregate, alias string) (string, error) {
	switch a.Value {
	case model.ValueNone:
		return "", nil
	case model.ValueQuantity:
		if a.Source != model.Issues {
			return "", fmt.Errorf("compile: %s: quantity is a value of issues", a.P)
		}
		return fmt.Sprintf("CASE WHEN %s.quantity > 0 THEN %s END", alias, c.d.Float(alias+".quantity")), nil
	case model.ValueQuantityRef:
		if a.Source != model.Issues {
			return "", fmt.Errorf("compile: %s: quantity is a value of issues", a.P)
		}
		r := c.refs[a.Ref.Name]
		return fmt.Sprintf("CASE WHEN %s.quantity > 0 AND c.r%d IS NOT NULL THEN %s * c.r%d END", alias, r, c.d.Float(alias+".quantity"), r), nil
	case model.ValueNumericValue:
		if a.Source != model.Events {
			return "", fmt.Errorf("compile: %s: numeric_value is a value of events", a.P)
		}
		return c.d.Float(alias + ".numeric_value"), nil
	}
	return "", fmt.Errorf("compile: %s: unknown row value %d", a.P, a.Value)
}

// window returns the concrete inclusive range of a window.
func (c *compiler) window(w model.Window) (from, to time.Time, hasFrom bool, err error) {
	if _, err := c.date(w.End); err != nil {
		return from, to, false, err
	}
	if w.Kind == model.WindowBetween {
		if _, err := c.date(w.Start); err != nil {
			return from, to, false, err
		}
	}
	switch w.Kind {
	case model.WindowMonths, model.WindowDays:
		if w.N < 1 {
			return from, to, false, fmt.Errorf("compile: window %s: N must be at least 1", w)
		}
	case model.WindowEver, model.WindowBetween:
	default:
		return from, to, false, fmt.Errorf("compile: unknown window %s", w)
	}
	from, to, hasFrom = w.Range(c.opts.Dates)
	return from, to, hasFrom, nil
}

func (c *compiler) fragment(table string) (string, error) {
	return Fragment(c.prof, c.d, table, c.b, c.opts.Dates.AsOf, c.opts.Practice)
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

// ---- patients ----

func (c *compiler) patients(where model.Expr, exprs []model.Expr) (*Statement, error) {
	if where != nil {
		where = model.ResolveExpr(where, model.AnchorAsOf)
	}
	resolved := make([]model.Expr, len(exprs))
	for i, e := range exprs {
		if e == nil {
			return nil, fmt.Errorf("compile: expression %d is missing", i)
		}
		resolved[i] = model.ResolveExpr(e, model.AnchorAsOf)
	}
	all := append([]model.Expr{}, resolved...)
	if where != nil {
		all = append(all, where)
	}
	if err := c.collect(all); err != nil {
		return nil, err
	}
	cols := []string{"patient_id"}
	sel := []string{"p.patient_id"}
	var types []model.Type
	for i, e := range resolved {
		s, err := c.expr(e)
		if err != nil {
			return nil, err
		}
		if e.Type() == model.Number {
			s = c.d.Float(s)
		}
		name := "x" + strconv.Itoa(i)
		cols = append(cols, name)
		sel = append(sel, s+" AS "+name)
		types = append(types, e.Type())
	}
	w := ""
	if where != nil {
		if where.Type() != model.Bool {
			return nil, fmt.Errorf("compile: where is %s, not boolean", where.Type())
		}
		s, err := c.pred(where)
		if err != nil {
			return nil, err
		}
		w = "\nWHERE " + s
	}
	ctes, lk, err := c.ctes()
	if err != nil {
		return nil, err
	}
	text := c.with(ctes) + "SELECT " + strings.Join(sel, ",\n       ") + "\nFROM pat AS p" + w + "\nORDER BY p.patient_id"
	return c.finish(text, lk, cols, nil, types)
}
