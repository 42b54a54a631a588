package compile

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/profile"
)

// Engine evaluates plans with SQL on a practice database.
type Engine struct {
	db      *sql.DB
	dialect Dialect
	profile *profile.Profile
}

var _ engine.Engine = (*Engine)(nil)

// NewEngine returns an engine running compiled SQL on db, which must be a
// database of dialect d with the layout of profile p.
func NewEngine(db *sql.DB, d Dialect, p *profile.Profile) *Engine {
	return &Engine{db: db, dialect: d, profile: p}
}

// Lacks reports whether the engine's layout cannot supply a canonical
// column at all (see profile.Profile.Lacks).
func (e *Engine) Lacks(table, column string) bool { return e.profile.Lacks(table, column) }

func options(in engine.Input) Options {
	return Options{Practice: in.Practice, Dates: in.Dates, Params: in.Params}
}

// Evaluate computes every measure of in.Plan in one query.
func (e *Engine) Evaluate(ctx context.Context, in engine.Input) (*engine.Result, error) {
	start := time.Now()
	st, err := SQL(in.Plan, e.dialect, e.profile, e.options(ctx, in))
	if err != nil {
		return nil, err
	}
	res := newResult(in.Plan)
	err = e.run(ctx, st, func(rows *sql.Rows) error {
		if !rows.Next() {
			return fmt.Errorf("query returned no row")
		}
		vals, ptrs := rowValues(len(st.outputs))
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		return st.fill(res, vals, nil)
	})
	if err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

// rowValues are n values of a row and the pointers rows.Scan fills them
// through.
func rowValues(n int) (vals, ptrs []any) {
	vals, ptrs = make([]any, n), make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	return vals, ptrs
}

// fill sets the figures of res from a row's values: output i from
// vals[cols[i]], or vals[i] when cols is nil.
func (st *Statement) fill(res *engine.Result, vals []any, cols []int) error {
	for i, o := range st.outputs {
		c := i
		if cols != nil {
			c = cols[i]
		}
		n, err := toNumber(vals[c])
		if err != nil {
			return fmt.Errorf("column %s: %w", st.Columns[c], err)
		}
		if err := o.set(res, n); err != nil {
			return fmt.Errorf("column %s: %w", st.Columns[c], err)
		}
	}
	return nil
}

// Patients returns the values of exprs for the patients of the universe
// for whom where holds, ordered by patient id.
func (e *Engine) Patients(ctx context.Context, in engine.Input, where model.Expr, exprs []model.Expr) ([]engine.PatientRow, error) {
	st, err := PatientsSQL(in.Plan, e.dialect, e.profile, e.options(ctx, in), where, exprs)
	if err != nil {
		return nil, err
	}
	var out []engine.PatientRow
	err = e.run(ctx, st, func(rows *sql.Rows) error {
		vals, ptrs := rowValues(len(st.Columns))
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			id, err := toNumber(vals[0])
			if err != nil || !id.Valid || id.Value != math.Trunc(id.Value) {
				return fmt.Errorf("patient_id %q is not a whole number: patient lists need numeric patient ids (profile %s gives %T; measures do not need them)", fmt.Sprint(vals[0]), e.profile.Name, vals[0])
			}
			row := engine.PatientRow{PatientID: int64(id.Value), Values: make([]engine.Value, len(st.types))}
			for i, t := range st.types {
				v, err := toValue(t, vals[i+1])
				if err != nil {
					return fmt.Errorf("column %s: %w", st.Columns[i+1], err)
				}
				row.Values[i] = v
			}
			out = append(out, row)
		}
		return nil
	})
	// A layout whose patient ids are text (emis) sorts them as text.
	sort.SliceStable(out, func(i, j int) bool { return out[i].PatientID < out[j].PatientID })
	return out, err
}

// run executes a statement on one pinned connection: setup, the query (in
// a read-only transaction where the dialect has them), teardown.
func (e *Engine) run(ctx context.Context, st *Statement, scan func(*sql.Rows) error) (err error) {
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	if len(st.Teardown) > 0 {
		defer func() {
			// Drop the temporary tables even when ctx is cancelled.
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			for _, t := range st.Teardown {
				if _, terr := conn.ExecContext(tctx, t.SQL, t.Args...); terr != nil && err == nil {
					err = fmt.Errorf("search teardown: %w", terr)
				}
			}
		}()
	}
	for i, s := range st.Setup {
		if _, err := conn.ExecContext(ctx, s.SQL, s.Args...); err != nil {
			return fmt.Errorf("search setup statement %d of %d: %w", i+1, len(st.Setup), err)
		}
	}
	var q interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	} = conn
	if st.Dialect.ReadOnlyTx() {
		tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return fmt.Errorf("begin read-only transaction: %w", err)
		}
		defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep
		q = tx
	}
	rows, err := q.QueryContext(ctx, st.Query.SQL, st.Query.Args...)
	if err != nil {
		return fmt.Errorf("search query: %w", err)
	}
	defer rows.Close()
	if err := scan(rows); err != nil {
		return fmt.Errorf("search query: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("search query: %w", err)
	}
	return nil
}

func toNumber(v any) (engine.Number, error) {
	switch x := v.(type) {
	case nil:
		return engine.Number{}, nil
	case int64:
		return engine.Number{Value: float64(x), Valid: true}, nil
	case int32:
		return engine.Number{Value: float64(x), Valid: true}, nil
	case int:
		return engine.Number{Value: float64(x), Valid: true}, nil
	case float64:
		if math.IsNaN(x) {
			return engine.Number{}, nil
		}
		return engine.Number{Value: x, Valid: true}, nil
	case float32:
		return engine.Number{Value: float64(x), Valid: true}, nil
	case bool:
		if x {
			return engine.Number{Value: 1, Valid: true}, nil
		}
		return engine.Number{Value: 0, Valid: true}, nil
	case []byte:
		return parseNumber(string(x))
	case string:
		return parseNumber(x)
	}
	return engine.Number{}, fmt.Errorf("unexpected number type %T", v)
}

func parseNumber(s string) (engine.Number, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return engine.Number{}, fmt.Errorf("not a number: %q", s)
	}
	return engine.Number{Value: f, Valid: true}, nil
}

func toValue(t model.Type, v any) (engine.Value, error) {
	out := engine.Value{Type: t}
	switch t {
	case model.Bool:
		n, err := toNumber(v)
		if err != nil {
			return out, err
		}
		out.Valid = true // booleans are never null
		out.Bool = n.Valid && n.Value != 0
	case model.Number:
		n, err := toNumber(v)
		if err != nil {
			return out, err
		}
		out.Valid, out.Number = n.Valid, n.Value
	case model.Date:
		switch x := v.(type) {
		case nil:
		case time.Time:
			out.Valid = true
			out.Date = time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, time.UTC)
		case []byte, string:
			s := fmt.Sprint(x)
			if b, ok := x.([]byte); ok {
				s = string(b)
			}
			if len(s) < 10 {
				return out, fmt.Errorf("not a date: %q", s)
			}
			d, err := time.Parse(time.DateOnly, s[:10])
			if err != nil {
				return out, fmt.Errorf("not a date: %q", s)
			}
			out.Valid, out.Date = true, d
		default:
			return out, fmt.Errorf("unexpected date type %T", v)
		}
	case model.Text:
		switch x := v.(type) {
		case nil:
		case string:
			out.Valid, out.Text = true, x
		case []byte:
			out.Valid, out.Text = true, string(x)
		case int64:
			// A profile whose codes are numbers (an integer column).
			out.Valid, out.Text = true, strconv.FormatInt(x, 10)
		default:
			return out, fmt.Errorf("unexpected code type %T", v)
		}
	default:
		return out, fmt.Errorf("unknown type %v", t)
	}
	return out, nil
}
