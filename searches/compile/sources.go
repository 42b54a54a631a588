package compile

import (
	"fmt"
	"strings"
	"time"

	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/profile"
)

// Source passes: one GROUP BY patient pass over each table of rows that
// aggregates read, computing every aggregate of that source with
// conditional aggregation.

// maxEachMonthFlags is the longest each_month window computed with one flag
// per month; longer ones count distinct months.
const maxEachMonthFlags = 36

// source is a table of rows read by one pass.
type source struct {
	src              model.Source
	table            string // the profile's table
	alias, cte       string // the pass's alias and CTE name
	codes            string // the CTE of the codes the pass joins to
	dateCol, codeCol string
}

// sources are the tables aggregates read, in pass order.
var sources = []source{
	{model.Issues, profile.MedicationIssues, "i", "iss", "codes_issues", "issue_date", "dmd_code"},
	{model.Events, profile.ClinicalEvents, "e", "evt", "codes_events", "event_date", "snomed_code"},
}

// patInputs are what the source passes give pat: a column per aggregate,
// each pass's row count and its join.
type patInputs struct {
	cols, rows, joins []string
}

// pass is one source pass being built.
type pass struct {
	s    source
	col  string          // the date column, qualified by the alias
	body strings.Builder // the CTE's SELECT
	pat  *patInputs
}

// term is one aggregate of a pass with what its row condition needs.
type term struct {
	ac       *aggCol
	from, to time.Time // the window, inclusive
	hasFrom  bool
	value    string   // the row value, "" when the aggregate has none
	list     string   // the row's code is in the codelist
	filter   []string // the rows filter on the value
}

// aggregateOps compile each aggregate operation to the columns it adds to
// its pass and the column of pat that reads them.
var aggregateOps = map[model.AggOp]func(*compiler, *pass, *term) error{
	model.OpExists:    (*compiler).opExists,
	model.OpCount:     (*compiler).opCount,
	model.OpSum:       (*compiler).opSum,
	model.OpFirst:     (*compiler).opFirstLast,
	model.OpLast:      (*compiler).opFirstLast,
	model.OpEachMonth: (*compiler).opEachMonth,
}

// sourcePass returns the codes_<source> CTE and the pass over source s (none
// when no aggregate reads s), adding pat's inputs to pat.
func (c *compiler) sourcePass(s source, pat *patInputs) ([]cte, error) {
	var aggs, all, ranked []*aggCol
	for _, ac := range c.aggOrder {
		if ac.agg.Source != s.src {
			continue
		}
		all = append(all, ac)
		if ac.agg.RowRanked() {
			ranked = append(ranked, ac)
		} else {
			aggs = append(aggs, ac)
		}
	}
	if len(all) == 0 {
		return nil, nil
	}
	codes := c.sourceCodes(s.codes, all)
	frag, err := c.fragment(s.table)
	if err != nil {
		return nil, err
	}
	p := &pass{s: s, col: s.alias + "." + s.dateCol, pat: pat}
	// Select the plain column (the unary plus would make the later join on
	// it unindexable in SQLite); group by the unindexed one.
	// The earliest window start of the pass's aggregates, zero when one
	// has none.
	earliest := time.Time{}
	for _, ac := range aggs {
		from, _, hasFrom, err := c.window(ac.agg.Window)
		if err != nil {
			return nil, err
		}
		if !hasFrom {
			earliest = time.Time{}
			break
		}
		if earliest.IsZero() || from.Before(earliest) {
			earliest = from
		}
	}
	nRows := "COUNT(*)"
	if c.wide {
		// The rows of this month end, not of the whole series.
		nRows = "SUM(CASE WHEN " + p.col + " <= " + c.b.Date(c.opts.Dates.AsOf)
		if !earliest.IsZero() {
			nRows += " AND " + p.col + " >= " + c.b.Date(earliest)
		}
		nRows += " THEN 1 ELSE 0 END)"
	}
	fmt.Fprintf(&p.body, "SELECT %s.patient_id,\n           %s AS n_rows", s.alias, nRows)
	if c.series {
		p.body.WriteString(",\n           me.point")
	}
	for _, ac := range aggs {
		t, err := c.term(p, ac)
		if err != nil {
			return nil, err
		}
		if err := c.aggregate(p, t); err != nil {
			return nil, err
		}
	}
	c.passRows(p, frag, earliest)
	join := fmt.Sprintf("LEFT JOIN %s AS %s ON %s.patient_id = r.patient_id", s.cte, s.alias, s.alias)
	if c.series {
		join += fmt.Sprintf(" AND %s.point = r.point", s.alias)
	}
	pat.joins = append(pat.joins, join)
	pat.rows = append(pat.rows, fmt.Sprintf("COALESCE(%s.n_rows, 0)", s.alias))
	out := []cte{codes, {name: s.cte, body: p.body.String()}}
	for _, ac := range ranked {
		r, err := c.rankedCTE(s, frag, ac, pat)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// passRows ends a pass with the rows it reads: the source's rows with a
// code of its codelists, on or before the as-of date and on or after
// earliest (unless zero), grouped by patient.
func (c *compiler) passRows(p *pass, frag string, earliest time.Time) {
	s, date := p.s, c.d.Unindexed(p.col)
	if c.opts.ThroughIndex[s.src] && !c.series {
		date = p.col
	}
	if c.series {
		// CROSS JOIN fixes SQLite's join order (it does not reorder across
		// one): the table is read once, its codes looked up, and each row
		// counted at every month end whose windows it falls in; never once
		// per code or month end through an index. Other engines plan it as
		// any join.
		// The rows of any month end (the envelope: on or before the latest
		// as-of date, on or after the earliest window start) are kept
		// before month_ends is joined; then each month end's own range.
		hi := c.envelope(c.opts.Dates.AsOf, false)
		fmt.Fprintf(&p.body, "\n    FROM (%s) AS %s\n    CROSS JOIN %s AS c\n    CROSS JOIN month_ends AS me\n    WHERE c.code = %s.%s AND %s <= %s",
			indent(frag, "          "), s.alias, s.codes, s.alias, s.codeCol, date, hi)
		if !earliest.IsZero() {
			fmt.Fprintf(&p.body, " AND %s >= %s", date, c.envelope(earliest, true))
		}
		fmt.Fprintf(&p.body, "\n      AND %s <= %s", date, c.b.Date(c.opts.Dates.AsOf))
		if !earliest.IsZero() {
			fmt.Fprintf(&p.body, " AND %s >= %s", date, c.b.Date(earliest))
		}
		fmt.Fprintf(&p.body, "\n    GROUP BY %s, me.point", c.d.Unindexed(s.alias+".patient_id"))
		return
	}
	fmt.Fprintf(&p.body, "\n    FROM (%s) AS %s\n    JOIN %s AS c ON c.code = %s.%s", indent(frag, "          "), s.alias, s.codes, s.alias, s.codeCol)
	hi, lo := c.b.Date, c.b.Date
	if c.wide {
		// The rows of every month end of a wide series (series.go): its
		// columns bound each month end's rows.
		hi = func(d time.Time) string { return c.envelope(d, false) }
		lo = func(d time.Time) string { return c.envelope(d, true) }
	}
	fmt.Fprintf(&p.body, "\n    WHERE %s <= %s", date, hi(c.opts.Dates.AsOf))
	if !earliest.IsZero() {
		fmt.Fprintf(&p.body, " AND %s >= %s", date, lo(earliest))
	}
	fmt.Fprintf(&p.body, "\n    GROUP BY %s", c.d.Unindexed(s.alias+".patient_id"))
}

// term checks an aggregate's window, row value and filter.
func (c *compiler) term(p *pass, ac *aggCol) (*term, error) {
	a := ac.agg
	t := &term{ac: ac}
	var err error
	if t.from, t.to, t.hasFrom, err = c.window(a.Window); err != nil {
		return nil, err
	}
	if t.value, err = c.rowValue(a, p.s.alias); err != nil {
		return nil, err
	}
	t.list = fmt.Sprintf("c.l%d = 1", c.lists[a.Codelist.Name])
	switch a.Filter {
	case model.RowsValueKnown, model.RowsValueUnknown:
		if t.value == "" {
			return nil, fmt.Errorf("compile: %s: a rows filter needs a value", a.P)
		}
		if a.Filter == model.RowsValueKnown {
			t.filter = []string{t.value + " IS NOT NULL"}
		} else {
			t.filter = []string{t.value + " IS NULL"}
		}
	}
	conds, err := c.rowConds(a, p.s.alias)
	if err != nil {
		return nil, err
	}
	t.filter = append(t.filter, conds...)
	return t, nil
}

// cond is the condition on a row for the aggregate of t over from..to: in
// the codelist, in the range (the as-of date bounds every row already,
// except in a wide series) and through the filter.
func (c *compiler) cond(p *pass, t *term, from, to time.Time, hasFrom bool) string {
	conds := []string{t.list}
	if hasFrom {
		conds = append(conds, p.col+" >= "+c.b.Date(from))
	}
	if !to.Equal(c.opts.Dates.AsOf) || c.wide {
		conds = append(conds, p.col+" <= "+c.b.Date(to))
	}
	return strings.Join(append(conds, t.filter...), " AND ")
}

// aggregate adds the columns of one aggregate to its pass, each under a
// comment naming it.
func (c *compiler) aggregate(p *pass, t *term) error {
	a := t.ac.agg
	fmt.Fprintf(&p.body, ",\n           -- %s: %s", t.ac.name, comment(model.Key(a)))
	op, ok := aggregateOps[a.Op]
	if !ok {
		return fmt.Errorf("compile: %s: unknown aggregate %q", a.P, a.Op)
	}
	return op(c, p, t)
}

// column adds a column to the pass's SELECT.
func (p *pass) column(sql, name string) {
	fmt.Fprintf(&p.body, "\n           %s AS %s", sql, name)
}

// patColumn adds the column of pat for t: the pass's column, or 0 where
// the patient has no rows.
func (p *pass) patColumn(t *term, orZero bool) {
	col := p.s.alias + "." + t.ac.name
	if orZero {
		col = "COALESCE(" + col + ", 0)"
	}
	p.pat.cols = append(p.pat.cols, col+" AS "+t.ac.name)
}

func (c *compiler) opExists(p *pass, t *term) error {
	p.column("MAX(CASE WHEN "+c.cond(p, t, t.from, t.to, t.hasFrom)+" THEN 1 ELSE 0 END)", t.ac.name)
	p.patColumn(t, true)
	return nil
}

func (c *compiler) opCount(p *pass, t *term) error {
	p.column("SUM(CASE WHEN "+c.cond(p, t, t.from, t.to, t.hasFrom)+" THEN 1 ELSE 0 END)", t.ac.name)
	p.patColumn(t, true)
	return nil
}

func (c *compiler) opSum(p *pass, t *term) error {
	a := t.ac.agg
	if t.value == "" {
		return fmt.Errorf("compile: %s: sum without a value", a.P)
	}
	sum := fmt.Sprintf("SUM(CASE WHEN %s THEN COALESCE(%s, 0) ELSE 0 END)", c.cond(p, t, t.from, t.to, t.hasFrom), t.value)
	if a.PerDay {
		days := a.Window.Days(c.opts.Dates)
		if days <= 0 {
			return fmt.Errorf("compile: %s: per_day needs a window with days", a.P)
		}
		div := c.b.Number(float64(days))
		if c.series {
			// The divisor may be a column of month_ends, which PostgreSQL
			// wants aggregated in a pass grouped by patient and point.
			div = "MAX(" + div + ")"
		}
		sum = sum + " / " + div
	}
	p.column(c.d.Round(c.d.Float(sum), engine.RoundSum), t.ac.name)
	p.patColumn(t, true)
	return nil
}

// opFirstLast is the earliest (first) or latest (last) row date.
func (c *compiler) opFirstLast(p *pass, t *term) error {
	fn := "MIN"
	if t.ac.agg.Op == model.OpLast {
		fn = "MAX"
	}
	p.column(fn+"(CASE WHEN "+c.cond(p, t, t.from, t.to, t.hasFrom)+" THEN "+p.col+" END)", t.ac.name)
	p.patColumn(t, false)
	return nil
}

// opEachMonth is a row in every calendar month of a months window: a flag
// per month up to maxEachMonthFlags months, else a count of the distinct
// months with a row.
func (c *compiler) opEachMonth(p *pass, t *term) error {
	a := t.ac.agg
	if a.Window.Kind != model.WindowMonths {
		return fmt.Errorf("compile: %s: each_month needs a months window", a.P)
	}
	months := a.Window.Months(c.opts.Dates)
	name := t.ac.name
	if len(months) > maxEachMonthFlags {
		p.column("COUNT(DISTINCT CASE WHEN "+c.cond(p, t, t.from, t.to, t.hasFrom)+" THEN "+c.d.MonthKey(p.col)+" END)", name+"_months")
		p.pat.cols = append(p.pat.cols, fmt.Sprintf("CASE WHEN %s.%s_months = %s THEN 1 ELSE 0 END AS %s", p.s.alias, name, c.b.Int(int64(len(months))), name))
		return nil
	}
	var parts []string
	for j, m := range months {
		end := t.to
		if j+1 < len(months) {
			end = months[j+1].AddDate(0, 0, -1)
		}
		if j > 0 {
			p.body.WriteString(",")
		}
		flag := fmt.Sprintf("%s_m%d", name, j)
		p.column("MAX(CASE WHEN "+c.cond(p, t, m, end, true)+" THEN 1 ELSE 0 END)", flag)
		parts = append(parts, p.s.alias+"."+flag+" = 1")
	}
	p.pat.cols = append(p.pat.cols, fmt.Sprintf("CASE WHEN %s THEN 1 ELSE 0 END AS %s", strings.Join(parts, " AND "), name))
	return nil
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
