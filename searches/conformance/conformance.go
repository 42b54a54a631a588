// Package conformance runs search fixtures on every engine: the reference
// evaluator, and the compiled SQL on SQLite, PostgreSQL and SQL Server in
// every layout (canonical, tpp and emis). Its tests hold the language's spec
// cases (testdata/cases) and a property test comparing the engines on random
// searches and practices; `steward search test` uses its engine factories.
package conformance

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nhs-steward/steward/searches/compile"
	"github.com/nhs-steward/steward/searches/dataset"
	"github.com/nhs-steward/steward/searches/dialect/postgres"
	"github.com/nhs-steward/steward/searches/dialect/sqlite"
	"github.com/nhs-steward/steward/searches/dialect/sqlserver"
	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/eval"
	"github.com/nhs-steward/steward/searches/fixture"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/profile"
	"github.com/nhs-steward/steward/searches/schema"
)

// Layouts are the physical layouts every SQL engine is run on.
var Layouts = schema.Layouts

// Eval is the reference evaluator over the case's data.
func Eval() fixture.Factory {
	return func(_ context.Context, _ *fixture.File, c *fixture.Case) (engine.Engine, func(), error) {
		return eval.New(c.Data), func() {}, nil
	}
}

// Mapped returns whether a code is in any codelist of s: the codes the tpp
// writer keeps recoverable (see dataset.Options).
func Mapped(s *model.Search) func(string) bool {
	codes := map[string]bool{}
	for _, cl := range s.Codelists {
		for _, c := range cl.Codes {
			codes[c] = true
		}
	}
	return func(c string) bool { return codes[c] }
}

// Compiler returns the compiled-SQL engine of dialect d reading db, a
// database Steward's writers wrote in layout l, through l's built-in
// profile: its parameters are bound, for each evaluation, to the
// identifiers the writers gave the practice evaluated (schema.Parameters).
func Compiler(db *sql.DB, d schema.Dialect, l schema.Layout) (engine.Engine, error) {
	prof, err := profile.Lookup(string(l))
	if err != nil {
		return nil, err
	}
	return Profiled(db, d, prof, func(practice string) map[string]string { return schema.Parameters(l, practice) })
}

// Profiled returns the compiled-SQL engine of dialect d reading db through
// prof, with the profile's parameters bound for each evaluation to
// params(the practice evaluated).
func Profiled(db *sql.DB, d schema.Dialect, prof *profile.Profile, params func(practice string) map[string]string) (engine.Engine, error) {
	dia, err := Dialect(d)
	if err != nil {
		return nil, err
	}
	return &boundEngine{db: db, d: dia, prof: prof, params: params}, nil
}

// boundEngine binds its profile's parameters for the practice of each
// evaluation, as a practice's config binds them for its own.
type boundEngine struct {
	db     *sql.DB
	d      compile.Dialect
	prof   *profile.Profile
	params func(practice string) map[string]string
}

var (
	_ engine.Engine          = (*boundEngine)(nil)
	_ engine.SeriesEvaluator = (*boundEngine)(nil)
	_ fixture.Lacker         = (*boundEngine)(nil)
)

func (e *boundEngine) at(practice string) (*compile.Engine, error) {
	p, err := e.prof.Bind(e.params(practice))
	if err != nil {
		return nil, err
	}
	return compile.NewEngine(e.db, e.d, p), nil
}

func (e *boundEngine) Evaluate(ctx context.Context, in engine.Input) (*engine.Result, error) {
	eng, err := e.at(in.Practice)
	if err != nil {
		return nil, err
	}
	return eng.Evaluate(ctx, in)
}

// EvaluateSeries implements engine.SeriesEvaluator: the series in one
// query where the compiler can make one.
func (e *boundEngine) EvaluateSeries(ctx context.Context, in engine.Input, asOfs []time.Time) ([]*engine.Result, error) {
	eng, err := e.at(in.Practice)
	if err != nil {
		return nil, err
	}
	return eng.EvaluateSeries(ctx, in, asOfs)
}

func (e *boundEngine) Patients(ctx context.Context, in engine.Input, where model.Expr, exprs []model.Expr) ([]engine.PatientRow, error) {
	eng, err := e.at(in.Practice)
	if err != nil {
		return nil, err
	}
	return eng.Patients(ctx, in, where, exprs)
}

// Lacks implements fixture.Lacker.
func (e *boundEngine) Lacks(table, column string) bool { return e.prof.Lacks(table, column) }

// Dialect returns the compiler dialect of d.
func Dialect(d schema.Dialect) (compile.Dialect, error) {
	switch d {
	case schema.SQLite:
		return sqlite.New(), nil
	case schema.Postgres:
		return postgres.New(), nil
	case schema.SQLServer:
		return sqlserver.New(), nil
	}
	return nil, fmt.Errorf("unknown dialect %q", d)
}

// SQLite returns a factory writing each case into a fresh SQLite file in
// a temporary directory (removed on release) and reading it read-only.
func SQLite(l schema.Layout) fixture.Factory {
	return SQLiteWith(l, nil, nil, nil)
}

// SQLiteWith is SQLite reading through prof instead of l's built-in
// profile: after writing the case in layout l it runs the statements of
// setup (SQL building the profile's layout from l's tables), and binds the
// profile's parameters to params(the practice evaluated). A nil prof is
// l's built-in profile.
func SQLiteWith(l schema.Layout, prof *profile.Profile, setup []string, params func(string) map[string]string) fixture.Factory {
	return func(ctx context.Context, f *fixture.File, c *fixture.Case) (engine.Engine, func(), error) {
		dir, err := os.MkdirTemp("", "steward-conformance-")
		if err != nil {
			return nil, nil, err
		}
		cleanup := func() { os.RemoveAll(dir) }
		db, err := sqliteDB(ctx, filepath.Join(dir, "practice.db"), l, c.Data, Mapped(f.Search), setup)
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		eng, err := engineFor(db, schema.SQLite, l, prof, params)
		if err != nil {
			db.Close()
			cleanup()
			return nil, nil, err
		}
		return eng, func() { db.Close(); cleanup() }, nil
	}
}

func engineFor(db *sql.DB, d schema.Dialect, l schema.Layout, prof *profile.Profile, params func(string) map[string]string) (engine.Engine, error) {
	if prof == nil {
		return Compiler(db, d, l)
	}
	if params == nil {
		params = func(string) map[string]string { return nil }
	}
	return Profiled(db, d, prof, params)
}

// SQLiteEngine writes ds to a new SQLite database at path and returns the
// compiled-SQL engine reading it read-only.
func SQLiteEngine(ctx context.Context, path string, l schema.Layout, ds *dataset.Dataset, mapped func(string) bool) (engine.Engine, func(), error) {
	db, err := sqliteDB(ctx, path, l, ds, mapped, nil)
	if err != nil {
		return nil, nil, err
	}
	eng, err := Compiler(db, schema.SQLite, l)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return eng, func() { db.Close() }, nil
}

// sqliteDB writes ds in layout l to a new SQLite database at path, runs
// setup on it, and opens it read-only.
func sqliteDB(ctx context.Context, path string, l schema.Layout, ds *dataset.Dataset, mapped func(string) bool, setup []string) (*sql.DB, error) {
	// A throwaway database: no journal and no fsync while it is written
	// (a release gate writes one per case and layout).
	w, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)")
	if err != nil {
		return nil, err
	}
	err = dataset.Write(ctx, w, schema.SQLite, l, ds, dataset.Options{Mapped: mapped})
	if err == nil {
		err = runSetup(ctx, w, setup)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write sqlite: %w", err)
	}
	return sqlite.Open(path)
}

func runSetup(ctx context.Context, db *sql.DB, setup []string) error {
	for i, stmt := range setup {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("setup statement %d: %w", i+1, err)
		}
	}
	return nil
}

// SplitScript splits an SQL script into statements: each ends with a ';'
// at the end of a line. Lines starting with -- are comments.
func SplitScript(script string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(script, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line + "\n")
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// Postgres returns a factory writing each case into a fresh schema of the
// PostgreSQL database at serverURL (dropped on release) and reading it
// read-only through a connection whose search_path is that schema.
func Postgres(serverURL string, l schema.Layout) fixture.Factory {
	return PostgresWith(serverURL, l, nil, nil, nil)
}

// PostgresWith is Postgres reading through prof, as SQLiteWith.
func PostgresWith(serverURL string, l schema.Layout, prof *profile.Profile, setup []string, params func(string) map[string]string) fixture.Factory {
	return func(ctx context.Context, f *fixture.File, c *fixture.Case) (engine.Engine, func(), error) {
		db, drop, err := postgresDB(ctx, serverURL, l, c.Data, Mapped(f.Search), setup)
		if err != nil {
			return nil, nil, err
		}
		eng, err := engineFor(db, schema.Postgres, l, prof, params)
		if err != nil {
			db.Close()
			drop()
			return nil, nil, err
		}
		return eng, func() { db.Close(); drop() }, nil
	}
}

// PostgresEngine writes ds into a new schema of the database at serverURL
// and returns the compiled-SQL engine reading it; release drops the schema.
func PostgresEngine(ctx context.Context, serverURL string, l schema.Layout, ds *dataset.Dataset, mapped func(string) bool) (engine.Engine, func(), error) {
	db, drop, err := postgresDB(ctx, serverURL, l, ds, mapped, nil)
	if err != nil {
		return nil, nil, err
	}
	eng, err := Compiler(db, schema.Postgres, l)
	if err != nil {
		db.Close()
		drop()
		return nil, nil, err
	}
	return eng, func() { db.Close(); drop() }, nil
}

// postgresDB writes ds into a new schema and runs setup there; drop drops
// the schema.
func postgresDB(ctx context.Context, serverURL string, l schema.Layout, ds *dataset.Dataset, mapped func(string) bool, setup []string) (*sql.DB, func(), error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, nil, err
	}
	name := "steward_case_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", serverURL)
	if err != nil {
		return nil, nil, err
	}
	drop := func() {
		admin.ExecContext(context.WithoutCancel(ctx), "DROP SCHEMA IF EXISTS "+name+" CASCADE") //nolint:errcheck // best effort
		admin.Close()
	}
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+name); err != nil {
		admin.Close()
		return nil, nil, fmt.Errorf("create schema: %w", err)
	}
	u, err := withSearchPath(serverURL, name)
	if err != nil {
		drop()
		return nil, nil, err
	}
	w, err := sql.Open("pgx", u)
	if err != nil {
		drop()
		return nil, nil, err
	}
	w.SetMaxOpenConns(1)
	err = dataset.Write(ctx, w, schema.Postgres, l, ds, dataset.Options{Mapped: mapped})
	if err == nil {
		err = runSetup(ctx, w, setup)
	}
	w.Close()
	if err != nil {
		drop()
		return nil, nil, fmt.Errorf("write postgres: %w", err)
	}
	db, err := postgres.Open(u)
	if err != nil {
		drop()
		return nil, nil, err
	}
	return db, drop, nil
}

func withSearchPath(serverURL, schemaName string) (string, error) {
	if !strings.HasPrefix(serverURL, "postgres://") && !strings.HasPrefix(serverURL, "postgresql://") {
		return strings.TrimSpace(serverURL) + " search_path=" + schemaName, nil
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("postgres URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schemaName)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Engines returns the factories `steward search test` and the suite run by
// default: the evaluator and SQLite in every layout, and PostgreSQL in
// every layout when pgURL is not empty. Names are "eval", then
// "sqlite/LAYOUT" and "postgres/LAYOUT" for canonical, tpp and emis.
func Engines(pgURL string) map[string]fixture.Factory {
	m := map[string]fixture.Factory{"eval": Eval()}
	for _, l := range Layouts {
		m["sqlite/"+string(l)] = SQLite(l)
		if pgURL != "" {
			m["postgres/"+string(l)] = Postgres(pgURL, l)
		}
	}
	return m
}

// SQLText returns the SQL a dialect runs for case c of f in layout l, for
// golden files and review.
func SQLText(f *fixture.File, c *fixture.Case, d schema.Dialect, l schema.Layout) (string, error) {
	prof, err := profile.Lookup(string(l))
	if err != nil {
		return "", err
	}
	if prof, err = prof.Bind(schema.Parameters(l, c.Practice)); err != nil {
		return "", err
	}
	dia, err := Dialect(d)
	if err != nil {
		return "", err
	}
	opts := compile.Options{Practice: c.Practice, Dates: c.Dates, Params: c.Params}
	st, err := compile.SQL(f.Plan, dia, prof, opts)
	if err != nil {
		return "", err
	}
	text := st.String()
	if sp, n := f.Plan.SeriesPlan(); sp != nil {
		ss, err := compile.SeriesSQL(sp, dia, prof, opts, model.SeriesDates(c.Dates.AsOf, n))
		switch {
		case errors.Is(err, compile.ErrNoSinglePass):
			text += "\n-- series: one query per month end (no single pass on this layout)\n"
		case err != nil:
			return "", err
		default:
			text += "\n-- series of " + strconv.Itoa(n) + " month ends\n" + ss.String()
		}
	}
	return text, nil
}
