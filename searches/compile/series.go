package compile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/profile"
)

// Series: a plan's measures at each of several as-of dates in one query,
// one pass over each table.
//
// The query of one as-of date is compiled for every date of the series.
// The texts are the same; only some bind parameters differ (the as-of date,
// window starts, a per-day divisor, the dates age is computed at). Those
// become the columns a<i> of a month_ends CTE with one row per date (its
// point, 0 for the oldest), and every pass joins it: the source passes read
// each row once and count it at every month end whose windows it falls in
// (GROUP BY patient, point), reg has a row per patient and point, and the
// final SELECT gives one row per point. Parameters equal at every date stay
// bind parameters.

// point is the query of one date of a series, compiled alone.
type point struct {
	c    *compiler
	q    *measureQuery
	ctes []cte
	text string
	cols []string // the query's result columns
}

// compilePoints compiles the measures query of plan at each of asOfs, each
// compiler set up by mode (a long or a wide series), and returns the
// queries with the lookups of the first. The texts must be the same: only
// parameters may differ between the dates, else ErrNoSinglePass.
func compilePoints(plan *model.Plan, d Dialect, prof *profile.Profile, opts Options, asOfs []time.Time, mode func(*compiler)) ([]point, *Lookups, error) {
	if len(asOfs) == 0 || len(asOfs) > seriesPoints {
		return nil, nil, fmt.Errorf("compile: a series of %d dates, want 1 to %d", len(asOfs), seriesPoints)
	}
	pts := make([]point, len(asOfs))
	var lk *Lookups
	for k, at := range asOfs {
		o := opts
		o.Dates.AsOf = at
		c, err := newCompiler(plan, d, prof, o)
		if err != nil {
			return nil, nil, err
		}
		mode(c)
		c.b.distinct = true
		q, ctes, l, err := c.measureParts()
		if err != nil {
			return nil, nil, err
		}
		text, cols := q.text(ctes)
		if k == 0 {
			lk = l
		} else if text != pts[0].text || len(c.b.params) != len(pts[0].c.b.params) {
			return nil, nil, ErrNoSinglePass
		}
		pts[k] = point{c: c, q: q, ctes: ctes, text: text, cols: cols}
	}
	return pts, lk, nil
}

// ErrNoSinglePass is returned by SeriesSQL when the query of the series
// cannot be one pass (the schema profile reads the as-of date inside a
// table's SQL, or the query's shape changes between the dates); the series
// is then evaluated one date at a time.
var ErrNoSinglePass = errors.New("compile: the series cannot be computed in one pass")

// seriesPoints are the rows of the month_ends CTE a query can have: a
// series is at most model.MaxSeriesMonths long.
const seriesPoints = model.MaxSeriesMonths

// SeriesSQL compiles the measures of plan evaluated at each of asOfs
// (opts.Dates.AsOf is ignored) into one query: a wide one (wideSQL) where
// it can be and its columns fit, else a long one returning a row per date,
// in the order of asOfs, for the dates at which the universe is not empty.
// It returns ErrNoSinglePass when neither can be done in one query.
func SeriesSQL(plan *model.Plan, d Dialect, prof *profile.Profile, opts Options, asOfs []time.Time) (*Statement, error) {
	st, err := wideSQL(plan, d, prof, opts, asOfs)
	var tw *tooWideError
	if err == nil || !(errors.Is(err, ErrNoSinglePass) || errors.As(err, &tw)) {
		return st, err
	}
	return longSQL(plan, d, prof, opts, asOfs)
}

// longSQL compiles the long series query: a row per patient and month end
// in every pass, a row per month end in the result.
func longSQL(plan *model.Plan, d Dialect, prof *profile.Profile, opts Options, asOfs []time.Time) (*Statement, error) {
	pts, lk, err := compilePoints(plan, d, prof, opts, asOfs, func(c *compiler) { c.series = true })
	if err != nil {
		return nil, err
	}
	cols, outs := pts[0].cols, pts[0].q.outs

	// Which parameters vary with the date: each distinct list of values is
	// a column of month_ends.
	first := pts[0].c
	n := len(first.b.params)
	varying := make([]string, n) // parameter -> its column, "" when fixed
	var columns []int            // column -> a parameter holding its values
	colOf := map[string]string{}
	for i := 0; i < n; i++ {
		p0 := first.b.params[i]
		same := true
		var key strings.Builder
		fmt.Fprintf(&key, "%d", p0.Kind)
		for _, pt := range pts {
			p := pt.c.b.params[i]
			if p.Kind != p0.Kind {
				return nil, ErrNoSinglePass
			}
			v := valueKey(p)
			same = same && v == valueKey(p0)
			key.WriteString("\x01" + v)
		}
		if same {
			continue
		}
		if first.lows[i] || first.highs[i] {
			continue // bound below by the envelope
		}
		col, ok := colOf[key.String()]
		if !ok {
			col = "a" + strconv.Itoa(len(columns))
			colOf[key.String()] = col
			columns = append(columns, i)
		}
		varying[i] = col
	}
	// A varying parameter must be where month_ends is in scope.
	for _, out := range first.outside {
		for _, i := range tokensIn(out) {
			if i < n && varying[i] != "" {
				return nil, ErrNoSinglePass
			}
		}
	}

	// The query over month_ends, with the fixed parameters bound again
	// (equal values sharing one).
	b := NewBinder(d)
	var me strings.Builder
	for k, pt := range pts {
		if k > 0 {
			me.WriteString("\n    UNION ALL\n    ")
		}
		fmt.Fprintf(&me, "SELECT %d AS point", k)
		for j, i := range columns {
			p := pt.c.b.params[i]
			fmt.Fprintf(&me, ", %s AS a%d", b.Bind(p.Kind, p.Value), j)
		}
	}
	text := pts[0].text
	if !strings.HasPrefix(text, "WITH\n") {
		return nil, fmt.Errorf("compile: a series query must start with WITH")
	}
	var out strings.Builder
	fmt.Fprintf(&out, "WITH\nmonth_ends AS (\n    %s\n),\n", me.String())
	rest := text[len("WITH\n"):]
	for {
		i := strings.IndexByte(rest, 0)
		if i < 0 {
			out.WriteString(rest)
			break
		}
		j := strings.IndexByte(rest[i+1:], 0)
		if j < 0 {
			return nil, fmt.Errorf("compile: unterminated parameter token")
		}
		idx, err := strconv.Atoi(rest[i+1 : i+1+j])
		if err != nil || idx < 0 || idx >= n {
			return nil, fmt.Errorf("compile: bad parameter token")
		}
		out.WriteString(rest[:i])
		switch col := varying[idx]; {
		case col != "":
			out.WriteString("me." + col)
		case first.lows[idx] || first.highs[idx]:
			out.WriteString(b.Bind(ArgDate, envelopeDate(pts, idx, first.lows[idx])))
		default:
			p := first.b.params[idx]
			out.WriteString(b.Bind(p.Kind, p.Value))
		}
		rest = rest[i+1+j+1:]
	}
	first.b = b
	return first.finish(out.String(), lk, append(cols, "point"), outs, nil)
}

// tokensIn are the parameters whose tokens text holds.
func tokensIn(text string) []int {
	var out []int
	for {
		i := strings.IndexByte(text, 0)
		if i < 0 {
			return out
		}
		j := strings.IndexByte(text[i+1:], 0)
		if j < 0 {
			return out
		}
		if idx, err := strconv.Atoi(text[i+1 : i+1+j]); err == nil {
			out = append(out, idx)
		}
		text = text[i+1+j+1:]
	}
}

var _ engine.SeriesEvaluator = (*Engine)(nil)

// EvaluateSeries computes every measure of in.Plan at each of asOfs in one
// wide query where it can (in as few as fit, when one would have too many
// columns), else in one long query, else one query per date.
func (e *Engine) EvaluateSeries(ctx context.Context, in engine.Input, asOfs []time.Time) ([]*engine.Result, error) {
	first := in.Dates
	first.AsOf = asOfs[0]
	st, err := wideSQL(in.Plan, e.dialect, e.profile, e.optionsFor(ctx, in, first, asOfs[len(asOfs)-1]), asOfs)
	var tw *tooWideError
	switch {
	case err == nil:
		return e.evaluateWide(ctx, in, st)
	case errors.As(err, &tw) && tw.fit < len(asOfs):
		// In groups of dates that fit, each a query.
		var out []*engine.Result
		for len(asOfs) > 0 {
			k := min(tw.fit, len(asOfs))
			part, err := e.EvaluateSeries(ctx, in, asOfs[:k])
			if err != nil {
				return nil, err
			}
			out, asOfs = append(out, part...), asOfs[k:]
		}
		return out, nil
	case !errors.Is(err, ErrNoSinglePass) && !errors.As(err, &tw):
		return nil, err
	}
	// Not wide, or too wide at a single date: the long query, else a
	// query per date.
	return e.evaluateLong(ctx, in, asOfs)
}

// evaluateWide runs a wide series query: one row with every date's
// figures.
func (e *Engine) evaluateWide(ctx context.Context, in engine.Input, st *Statement) ([]*engine.Result, error) {
	start := time.Now()
	out := make([]*engine.Result, len(st.points))
	err := e.run(ctx, st, func(rows *sql.Rows) error {
		if !rows.Next() {
			return fmt.Errorf("series query returned no row")
		}
		vals, ptrs := rowValues(len(st.Columns))
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for k, cols := range st.points {
			res := newResult(in.Plan)
			if err := st.fill(res, vals, cols); err != nil {
				return err
			}
			res.Duration = time.Since(start)
			out[k] = res
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// evaluateLong runs the long series query where there is one, else a
// query per date.
func (e *Engine) evaluateLong(ctx context.Context, in engine.Input, asOfs []time.Time) ([]*engine.Result, error) {
	start := time.Now()
	st, err := longSQL(in.Plan, e.dialect, e.profile, options(in), asOfs)
	if errors.Is(err, ErrNoSinglePass) {
		return engine.EachDate(ctx, e, in, asOfs)
	}
	if err != nil {
		return nil, err
	}
	out := make([]*engine.Result, len(asOfs))
	err = e.run(ctx, st, func(rows *sql.Rows) error {
		vals, ptrs := rowValues(len(st.outputs) + 1)
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			k, err := toNumber(vals[len(vals)-1])
			if err != nil || !k.Valid || k.Value < 0 || int(k.Value) >= len(asOfs) || out[int(k.Value)] != nil {
				return fmt.Errorf("series query: bad point %v", vals[len(vals)-1])
			}
			res := newResult(in.Plan)
			if err := st.fill(res, vals, nil); err != nil {
				return err
			}
			out[int(k.Value)] = res
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A date with nobody in the universe has no row: evaluate it alone
	// (cheap, and the figures of an empty universe are those of one query).
	for k, r := range out {
		if r != nil {
			r.Duration = time.Since(start)
			continue
		}
		at := in
		at.Dates.AsOf = asOfs[k]
		if out[k], err = e.Evaluate(ctx, at); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func newResult(plan *model.Plan) *engine.Result {
	res := &engine.Result{Measures: make([]engine.MeasureResult, len(plan.Measures))}
	for i, m := range plan.Measures {
		res.Measures[i].ID = m.ID
	}
	return res
}

// valueKey is a parameter's value as text, equal for equal values.
func valueKey(p Param) string {
	if t, ok := p.Value.(time.Time); ok {
		return t.Format(time.DateOnly)
	}
	return fmt.Sprintf("%T:%v", p.Value, p.Value)
}

// envelopeDate is the earliest (low) or latest value of date parameter i
// at the points of a series.
func envelopeDate(pts []point, i int, low bool) time.Time {
	var out time.Time
	for k, pt := range pts {
		t, _ := pt.c.b.params[i].Value.(time.Time)
		if k == 0 || (low && t.Before(out)) || (!low && t.After(out)) {
			out = t
		}
	}
	return out
}
