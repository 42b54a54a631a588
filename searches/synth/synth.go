// Package synth generates synthetic English GP practices in the canonical
// practice reporting schema, or in SystmOne's ("tpp") or EMIS Web's ("emis")
// tables with each one's quirks, for testing and benchmarking Steward's
// searches. The same Config writes the same practice in every layout.
//
// A practice is built from published proportions (age and sex of registered
// lists, deprivation, churn, deaths, prescribing volumes, long-term opioid
// prevalence) documented with their sources in docs/synthetic-practice.md.
// Every dm+d and SNOMED CT code written comes from the shared reference
// codelists. Each patient gets an opioid scenario, recorded with its intended
// dates and doses in the side table synth_scenarios, which searches never
// read and tests read back with ReadScenarios.
//
// Output is deterministic: the same Config (apart from Workers and Progress)
// writes byte-identical table contents, however patients are scheduled.
package synth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver

	"github.com/nhs-steward/steward/searches/schema"
)

// Defaults for Config.
var (
	DefaultStart = time.Date(2015, 4, 1, 0, 0, 0, 0, time.UTC)
	DefaultEnd   = time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC)
)

// DefaultPractice is the ODS code of the generated practice unless set.
const DefaultPractice = "Y01234"

// ErrTablesExist is returned when the database already holds tables the
// generator would create and Config.Force is not set.
var ErrTablesExist = errors.New("tables already exist")

// Config describes a practice to generate.
type Config struct {
	// Patients is the number of patients ever known to the practice in the
	// window (rows of patients): those registered at End plus those who
	// left or died during the window. About 59% are registered at End for a
	// 10-year window.
	Patients int
	Seed     uint64
	// Start and End bound the history (both inclusive). Records are dated
	// inside it, except cancer history up to 5 years before Start and a few
	// deliberately future-dated rows after End.
	Start, End time.Time
	Practice   string        // ODS code; DefaultPractice when empty
	Layout     schema.Layout // schema.Canonical (default), schema.TPP or schema.EMIS
	// Force drops existing tables of the layout (and synth_scenarios) first.
	Force bool
	// Workers generating patients in parallel; 0 means GOMAXPROCS. It does
	// not change the output.
	Workers int
	// Progress, when set, is called from the writing goroutine after each
	// batch of patients is written.
	Progress func(done, total int)
}

// Patient ids look like a clinical system's: ten digits, far from any
// count a results document could hold, so a test can scan uploaded payloads
// for them byte by byte.
const (
	PatientIDBase   = 4_000_000_000
	PatientIDStride = 37
)

// Summary is what Generate wrote.
type Summary struct {
	Layout schema.Layout
	// Parameters are the values of the layout's built-in profile
	// parameters that read this practice (its Organisation_ID or
	// hashed_organisation).
	Parameters    map[string]string
	Patients      int64
	Registrations int64
	Issues        int64
	Events        int64
	Scenarios     map[string]int // patients per scenario name
	Elapsed       time.Duration
}

var odsRE = regexp.MustCompile(`^[A-Z][A-Z0-9]{2,7}$`)

func (c *Config) normalise() error {
	if c.Patients <= 0 {
		return fmt.Errorf("patients must be positive, got %d", c.Patients)
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	if c.End.IsZero() {
		c.End = DefaultEnd
	}
	if !c.End.After(c.Start) {
		return fmt.Errorf("end %s must be after start %s", c.End.Format(time.DateOnly), c.Start.Format(time.DateOnly))
	}
	if c.Start.Year() < 1900 || c.End.Year() > 2200 {
		return fmt.Errorf("dates must lie between 1900 and 2200")
	}
	if c.Practice == "" {
		c.Practice = DefaultPractice
	}
	if !odsRE.MatchString(c.Practice) {
		return fmt.Errorf("practice %q is not an ODS code (e.g. Y01234)", c.Practice)
	}
	if c.Layout == "" {
		c.Layout = schema.Canonical
	}
	if _, err := schema.ParseLayout(string(c.Layout)); err != nil {
		return err
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	return nil
}

// Open opens a database named as the steward command line names one:
// "sqlite:PATH" or a "postgres://" or "postgresql://" URL.
func Open(dsn string) (*sql.DB, schema.Dialect, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, "", fmt.Errorf("sqlite: needs a path, e.g. sqlite:practice.db")
		}
		db, err := sql.Open("sqlite", path)
		if err != nil {
			return nil, "", fmt.Errorf("open sqlite %s: %w", path, err)
		}
		return db, schema.SQLite, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, "", fmt.Errorf("open postgres: %w", err)
		}
		return db, schema.Postgres, nil
	}
	return nil, "", fmt.Errorf("database %q: want sqlite:PATH or a postgres:// URL", dsn)
}

// Generate writes a synthetic practice into db, an empty database of
// dialect d (schema.SQLite or schema.Postgres): the tables of cfg.Layout,
// synth_scenarios, then the layout's indexes.
func Generate(ctx context.Context, db *sql.DB, d schema.Dialect, cfg Config) (*Summary, error) {
	t0 := time.Now()
	if err := cfg.normalise(); err != nil {
		return nil, err
	}
	g, err := newGenerator(cfg)
	if err != nil {
		return nil, fmt.Errorf("load reference data: %w", err)
	}
	var w writer
	lay := layoutFor(cfg.Layout)
	switch d {
	case schema.SQLite:
		w, err = newSQLiteWriter(ctx, db, lay)
	case schema.Postgres:
		w, err = newPostgresWriter(ctx, db, lay)
	default:
		return nil, fmt.Errorf("dialect %q: synth writes sqlite or postgres", d)
	}
	if err != nil {
		return nil, err
	}
	defer w.close()
	sum, err := generate(ctx, g, w, d, cfg)
	if err != nil {
		return nil, err
	}
	sum.Elapsed = time.Since(t0)
	return sum, nil
}

// generate writes the practice through w.
func generate(ctx context.Context, g *generator, w writer, d schema.Dialect, cfg Config) (*Summary, error) {
	lay := layoutFor(cfg.Layout)
	if err := prepareTables(ctx, w, d, cfg.Layout, cfg.Force); err != nil {
		return nil, err
	}
	sum := &Summary{Layout: cfg.Layout, Parameters: schema.Parameters(cfg.Layout, cfg.Practice), Scenarios: map[string]int{}}
	for _, s := range Scenarios {
		sum.Scenarios[s] = 0
	}
	em := &emitter{g: g, lay: lay, w: w}
	if err := w.begin(ctx); err != nil {
		return nil, err
	}
	if cfg.Layout == schema.TPP {
		if err := em.organisations(ctx); err != nil {
			return nil, err
		}
		if err := em.dictionary(ctx); err != nil {
			return nil, err
		}
	}
	done := 0
	err := generateOrdered(ctx, g, cfg.Patients, cfg.Workers, func(batch []*patientRec) error {
		for _, p := range batch {
			em.patient(p)
			sum.Scenarios[p.scen.name]++
		}
		if err := em.flush(ctx); err != nil {
			return err
		}
		done += len(batch)
		if cfg.Progress != nil {
			cfg.Progress(done, cfg.Patients)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := w.commit(ctx); err != nil {
		return nil, err
	}
	for _, stmt := range append(schema.Indexes(d, cfg.Layout), scenarioIndex) {
		if err := w.exec(ctx, stmt); err != nil {
			return nil, fmt.Errorf("create index: %w", err)
		}
	}
	if err := w.finish(ctx); err != nil {
		return nil, err
	}
	sum.Patients, sum.Registrations, sum.Issues, sum.Events = int64(cfg.Patients), em.nRegs, em.nextIssue, em.nextEvent
	return sum, nil
}

// batchSize is the number of patients generated and written together.
const batchSize = 256

// generateOrdered generates patients 0..n-1 on workers and hands them to fn
// in patient order, batch by batch, from the calling goroutine.
func generateOrdered(ctx context.Context, g *generator, n, workers int, fn func([]*patientRec) error) error {
	nb := (n + batchSize - 1) / batchSize
	results := make([][]*patientRec, nb)
	ready := make([]chan struct{}, nb)
	for i := range ready {
		ready[i] = make(chan struct{})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	window := make(chan struct{}, 2*workers+2) // batches in flight
	jobs := make(chan int)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(jobs)
		for b := range nb {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- b:
			case <-ctx.Done():
				return
			}
		}
	})
	for range workers {
		wg.Go(func() {
			for b := range jobs {
				lo, hi := b*batchSize, min(n, (b+1)*batchSize)
				out := make([]*patientRec, 0, hi-lo)
				for i := lo; i < hi; i++ {
					out = append(out, g.patient(i))
				}
				results[b] = out
				close(ready[b])
			}
		})
	}
	var err error
	for b := range nb {
		select {
		case <-ready[b]:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
		if err = fn(results[b]); err != nil {
			break
		}
		results[b] = nil
		<-window
	}
	cancel()
	wg.Wait()
	return err
}
