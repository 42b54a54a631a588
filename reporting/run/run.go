// Package run evaluates a pack against a practice database and produces its
// results document: load the pack, compile each search for the database's
// dialect and schema profile, evaluate it in the database, build the
// document and apply disclosure control. `steward run`, `steward-agent` and
// the demo all run packs through here, so the figures they show agree.
package run

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nhs-steward/steward/internal/buildinfo"
	"github.com/nhs-steward/steward/reporting/disclosure"
	"github.com/nhs-steward/steward/reporting/measures"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/searches"
	"github.com/nhs-steward/steward/searches/compile"
	"github.com/nhs-steward/steward/searches/dialect"
	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/lang"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/profile"
	"github.com/nhs-steward/steward/searches/profile/check"
)

// LoadPack loads a pack by built-in name (e.g. "medsip") or by path (a
// pack directory, a pack.yaml or a single search file).
func LoadPack(nameOrPath string) (*model.Pack, error) {
	if searches.IsBuiltin(nameOrPath) {
		if _, err := os.Stat(nameOrPath); err != nil {
			dir, err := searches.ExtractBuiltin(nameOrPath, searches.CacheDir())
			if err != nil {
				return nil, err
			}
			nameOrPath = dir
		}
	}
	return lang.LoadPack(nameOrPath)
}

// Runner evaluates one pack against one database.
type Runner struct {
	DB      *sql.DB
	Dialect compile.Dialect
	Profile *profile.Profile
	Pack    *model.Pack
	Plans   []*model.Plan
	Engine  engine.Engine
	// Producer names the program in documents.
	Producer results.Producer
	// Practice is the ODS code a profile's {{practice_ods}} binds to
	// outside Document (in Quality); Document binds the request's.
	Practice string
}

// Open connects read-only to the database at url ("sqlite:PATH",
// "postgres://...", "sqlserver://...") with the named built-in schema
// profile, and plans every search of pack. A profile with parameters, or a
// profile file, goes through LoadProfile and OpenWith.
func Open(url, profileName string, pack *model.Pack, producer string) (*Runner, error) {
	prof, err := profile.Lookup(profileName)
	if err != nil {
		return nil, err
	}
	return OpenWith(url, prof, pack, producer)
}

// LoadProfile returns the built-in profile called spec, or the profile file
// spec names (relative to dir), with its parameters bound to params.
func LoadProfile(spec, dir string, params map[string]string) (*profile.Profile, error) {
	prof, err := profile.Load(spec, dir)
	if err != nil {
		return nil, err
	}
	return prof.Bind(params)
}

// OpenWith is Open with a loaded (and bound) profile.
func OpenWith(url string, prof *profile.Profile, pack *model.Pack, producer string) (*Runner, error) {
	db, d, err := dialect.Open(url)
	if err != nil {
		return nil, err
	}
	r, err := New(db, d, prof, pack)
	if err != nil {
		db.Close()
		return nil, err
	}
	r.Producer.Name = producer
	return r, nil
}

// New plans pack for an open database.
func New(db *sql.DB, d compile.Dialect, prof *profile.Profile, pack *model.Pack) (*Runner, error) {
	r := &Runner{DB: db, Dialect: d, Profile: prof, Pack: pack, Engine: compile.NewEngine(db, d, prof)}
	for _, s := range pack.Searches {
		p, err := model.Resolve(s)
		if err != nil {
			return nil, fmt.Errorf("plan search %s: %w", s.ID, err)
		}
		r.Plans = append(r.Plans, p)
	}
	r.Producer = results.Producer{Name: "steward", Version: buildinfo.String(), Profile: prof.Name, Dialect: string(d.Name())}
	return r, nil
}

// Close closes the database.
func (r *Runner) Close() error { return r.DB.Close() }

// Uncomputable lists the measures of the pack that the profile's layout
// cannot compute: those reading issue quantities when the
// layout has none. Their figures come out as if every quantity were
// unknown, and must not be used.
func (r *Runner) Uncomputable() []string {
	return check.Uncomputable(r.Profile, r.Plans)
}

// Request is one evaluation.
type Request struct {
	Practice string
	AsOf     time.Time
	Baseline time.Time // zero when the run has none
	Params   map[string]float64
	// Unprotected skips disclosure control: the document then holds exact
	// strata and must never leave the practice.
	Unprotected bool
}

// ErrBadRequest marks a request that can never succeed as given.
var ErrBadRequest = errors.New("bad run request")

func (q Request) check(usesBaseline string) error {
	if !isMonthEnd(q.AsOf) {
		return fmt.Errorf("%w: as-of date %s is not the last day of a month", ErrBadRequest, q.AsOf.Format(time.DateOnly))
	}
	if q.Baseline.IsZero() {
		if usesBaseline != "" {
			return fmt.Errorf("%w: this pack compares against a baseline (%s): give a baseline month end (e.g. --baseline 2024-03-31)", ErrBadRequest, usesBaseline)
		}
		return nil
	}
	if !isMonthEnd(q.Baseline) {
		return fmt.Errorf("%w: baseline %s is not the last day of a month", ErrBadRequest, q.Baseline.Format(time.DateOnly))
	}
	if q.Baseline.After(q.AsOf) {
		return fmt.Errorf("%w: baseline %s is after the as-of date %s", ErrBadRequest, q.Baseline.Format(time.DateOnly), q.AsOf.Format(time.DateOnly))
	}
	return nil
}

// checkParams refuses a parameter no search of the pack declares: a
// misspelt override would otherwise be ignored and the run would silently
// use the default.
func (r *Runner) checkParams(params map[string]float64) error {
	known := map[string]bool{}
	var names []string
	for _, p := range r.Plans {
		for _, prm := range p.Search.Parameters {
			if !known[prm.Name] {
				known[prm.Name] = true
				names = append(names, prm.Name)
			}
		}
	}
	sort.Strings(names)
	var unknown []string
	for name := range params {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	what := "parameter " + strconv.Quote(unknown[0])
	if len(unknown) > 1 {
		qs := make([]string, len(unknown))
		for i, u := range unknown {
			qs[i] = strconv.Quote(u)
		}
		what = "parameters " + strings.Join(qs, ", ")
	}
	if len(names) == 0 {
		return fmt.Errorf("%w: unknown %s: pack %s has no parameters (remove --param)", ErrBadRequest, what, r.Pack.ID)
	}
	return fmt.Errorf("%w: unknown %s: pack %s's parameters are %s (check the spelling: --param NAME=VALUE)",
		ErrBadRequest, what, r.Pack.ID, strings.Join(names, ", "))
}

func isMonthEnd(t time.Time) bool { return !t.IsZero() && t.AddDate(0, 0, 1).Day() == 1 }

// Document evaluates every search and returns the results document,
// disclosure-controlled unless the request says otherwise.
func (r *Runner) Document(ctx context.Context, q Request) (*results.Document, error) {
	uses := ""
	for _, p := range r.Plans {
		if p.UsesBaseline && uses == "" {
			// Say where, as lint does: the first use in the pack.
			uses = "search " + p.Search.ID
			if pos, what, ok := model.BaselineUse(p.Search); ok {
				uses = fmt.Sprintf("search %s uses it: %s at %s", p.Search.ID, what, pos)
			}
		}
	}
	if err := q.check(uses); err != nil {
		return nil, err
	}
	if err := r.checkParams(q.Params); err != nil {
		return nil, err
	}
	dates := model.Dates{AsOf: q.AsOf, Baseline: q.Baseline}
	var runs []measures.Run
	for _, p := range r.Plans {
		res, series, err := r.evaluate(ctx, p, engine.Input{Plan: p, Practice: q.Practice, Dates: dates, Params: q.Params})
		if err != nil {
			return nil, fmt.Errorf("search %s: %w", p.Search.ID, err)
		}
		status := "ok"
		if res.Patients == 0 {
			status = "no_data"
		}
		runs = append(runs, measures.Run{Plan: p, Result: res, Status: status, Series: series})
	}
	doc, err := measures.Document(measures.Meta{
		Practice: q.Practice, Pack: r.Pack, Dates: dates, Params: q.Params,
		Producer: r.Producer, Now: time.Now(),
	}, runs)
	if err != nil {
		return nil, err
	}
	if q.Unprotected {
		return doc, nil
	}
	if _, err := disclosure.Apply(doc); err != nil {
		return nil, fmt.Errorf("disclosure control: %w", err)
	}
	return doc, nil
}

// evaluate runs one search: its measures as of the run's date and, when
// some have a series, those at each month end of the longest series. When
// every measure has a series, the last month end (the as-of date) of the
// series is the run's result: the same query, not run twice.
func (r *Runner) evaluate(ctx context.Context, p *model.Plan, in engine.Input) (*engine.Result, *measures.Series, error) {
	start := time.Now()
	sp, n := p.SeriesPlan()
	var series *measures.Series
	if sp != nil {
		series = &measures.Series{Plan: sp, Dates: model.SeriesDates(in.Dates.AsOf, n)}
		sin := in
		sin.Plan = sp
		var err error
		if series.Results, err = engine.Series(ctx, r.Engine, sin, series.Dates); err != nil {
			return nil, nil, err
		}
		if len(sp.Measures) == len(p.Measures) {
			last := *series.Results[len(series.Results)-1]
			last.Duration = time.Since(start)
			return &last, series, nil
		}
	}
	res, err := r.Engine.Evaluate(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	res.Duration = time.Since(start)
	return res, series, nil
}

// WorklistColumn names a worklist column.
type WorklistColumn struct {
	Name string
	Type model.Type
}

// Worklist is the local-only list of patients of a pack's worklist. It is a
// different type from a results document on purpose: nothing that uploads
// accepts it.
type Worklist struct {
	Title    string
	Practice string
	AsOf     time.Time
	Columns  []WorklistColumn
	Rows     []engine.PatientRow
}

// Worklist evaluates the first search of the pack that has a worklist.
func (r *Runner) Worklist(ctx context.Context, q Request) (*Worklist, error) {
	if err := q.check(""); err != nil {
		return nil, err
	}
	if err := r.checkParams(q.Params); err != nil {
		return nil, err
	}
	for _, p := range r.Plans {
		w := p.Worklist
		if w == nil {
			continue
		}
		exprs := make([]model.Expr, len(w.Columns))
		cols := make([]WorklistColumn, len(w.Columns))
		for i, c := range w.Columns {
			exprs[i] = c.Expr
			cols[i] = WorklistColumn{Name: c.Name, Type: c.Expr.Type()}
		}
		rows, err := r.Engine.Patients(ctx, engine.Input{Plan: p, Practice: q.Practice,
			Dates: model.Dates{AsOf: q.AsOf, Baseline: q.Baseline}, Params: q.Params}, w.Where, exprs)
		if err != nil {
			return nil, fmt.Errorf("worklist: %w", err)
		}
		return &Worklist{Title: w.Title, Practice: q.Practice, AsOf: q.AsOf, Columns: cols, Rows: rows}, nil
	}
	return nil, fmt.Errorf("pack %s has no worklist", r.Pack.ID)
}
