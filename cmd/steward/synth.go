package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/nhs-steward/steward/internal/redact"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/searches/schema"
	"github.com/nhs-steward/steward/searches/synth"
)

// synthCommand is `steward synth`: write a synthetic practice database.
func synthCommand() *cli.Command {
	var (
		patients           int
		seed               uint64
		start, end         string
		dsn, practice, lay string
		force              bool
	)
	return &cli.Command{
		Name:    "synth",
		Summary: "generate a synthetic GP practice database",
		Usage:   "synth --patients N --db sqlite:PATH|postgres://... [flags]",
		Help: `Writes a synthetic English GP practice in the canonical practice reporting schema,
or in SystmOne's tables (--layout tpp) or EMIS Web's (--layout emis) with each one's
quirks (docs/layouts.md): patients, registrations, medication issues and clinical events
built from published proportions, with real dm+d and SNOMED CT codes from the reference
codelists. The same flags and seed write the same practice in every layout; the summary
gives the --profile-param values that read it (its Organisation_ID or
hashed_organisation). Each patient's intended opioid trajectory is kept in
the side table synth_scenarios, which searches never read. The same flags and seed write
the same data. See docs/synthetic-practice.md.

--patients counts everyone known to the practice in the window (registered at --end,
left or died); about 59% are registered at --end of a 10-year window.

Examples:
  steward synth --patients 5000 --db sqlite:practice.db
  steward synth --patients 50000 --seed 7 --start 2015-04-01 --end 2025-03-31 --db sqlite:big.db
  steward synth --patients 2000 --layout tpp --db postgres://user@localhost/practice --force
  steward synth --patients 2000 --layout emis --db sqlite:emis.db`,
		Flags: func(fs *flag.FlagSet) {
			fs.IntVar(&patients, "patients", 0, "number of patients ever known to the practice (required)")
			fs.Uint64Var(&seed, "seed", 1, "random seed; the same seed and flags write the same data")
			fs.StringVar(&start, "start", synth.DefaultStart.Format(time.DateOnly), "first day of the history (YYYY-MM-DD)")
			fs.StringVar(&end, "end", synth.DefaultEnd.Format(time.DateOnly), "last day of the history (YYYY-MM-DD)")
			fs.StringVar(&dsn, "db", "", "database to write: sqlite:PATH or a postgres:// URL (required)")
			fs.StringVar(&practice, "practice", synth.DefaultPractice, "ODS code of the practice")
			fs.StringVar(&lay, "layout", string(schema.Canonical), "physical layout: canonical, tpp or emis")
			fs.BoolVar(&force, "force", false, "drop the generator's tables first if they exist")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if fs.NArg() > 0 {
				return cli.Usagef("unexpected argument %q", fs.Arg(0))
			}
			if patients <= 0 {
				return cli.Usagef("--patients must be a positive number")
			}
			if dsn == "" {
				return cli.Usagef("--db is required (sqlite:PATH or a postgres:// URL)")
			}
			from, err := time.Parse(time.DateOnly, start)
			if err != nil {
				return cli.Usagef("--start %q is not a date (YYYY-MM-DD)", start)
			}
			to, err := time.Parse(time.DateOnly, end)
			if err != nil {
				return cli.Usagef("--end %q is not a date (YYYY-MM-DD)", end)
			}
			if !to.After(from) {
				return cli.Usagef("--end %s must be after --start %s", end, start)
			}
			layout, err := schema.ParseLayout(lay)
			if err != nil {
				return cli.Usagef("--layout: %v", err)
			}
			cfg := synth.Config{Patients: patients, Seed: seed, Start: from, End: to, Practice: strings.ToUpper(practice), Layout: layout, Force: force}
			if f, ok := stdio.Err.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				bar := &progressBar{w: stdio.Err, t0: time.Now()}
				cfg.Progress = bar.update
				defer bar.done()
			}
			db, dialect, err := synth.Open(dsn)
			if err != nil {
				return cli.Usagef("%v", err)
			}
			defer db.Close()
			sum, err := synth.Generate(ctx, db, dialect, cfg)
			if errors.Is(err, synth.ErrTablesExist) {
				return cli.WithCode(cli.ExitFailure, err)
			}
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, fmt.Errorf("generate into %s: %w", redact.URL(dsn), err))
			}
			printSummary(stdio.Out, cfg, redact.URL(dsn), sum)
			return nil
		},
	}
}

func printSummary(w io.Writer, cfg synth.Config, where string, s *synth.Summary) {
	fmt.Fprintf(w, "synthetic practice %s (%s layout, seed %d) written to %s\n", cfg.Practice, s.Layout, cfg.Seed, where)
	fmt.Fprintf(w, "  %-18s %d\n", "patients", s.Patients)
	fmt.Fprintf(w, "  %-18s %d\n", "registrations", s.Registrations)
	fmt.Fprintf(w, "  %-18s %d\n", "medication issues", s.Issues)
	fmt.Fprintf(w, "  %-18s %d\n", "clinical events", s.Events)
	fmt.Fprintf(w, "  scenarios (patients):\n")
	for _, name := range synth.Scenarios {
		fmt.Fprintf(w, "    %-30s %d\n", name, s.Scenarios[name])
	}
	fmt.Fprintf(w, "  %-18s %s\n", "elapsed", s.Elapsed.Round(time.Millisecond))
	if len(s.Parameters) > 0 {
		var names []string
		for k := range s.Parameters {
			names = append(names, k)
		}
		sort.Strings(names)
		fmt.Fprintf(w, "read it with --profile %s", s.Layout)
		for _, k := range names {
			fmt.Fprintf(w, " --profile-param %s=%s", k, s.Parameters[k])
		}
		fmt.Fprintln(w)
	}
}

// progressBar draws a one-line bar on a terminal.
type progressBar struct {
	w     io.Writer
	t0    time.Time
	drawn bool
}

func (b *progressBar) update(done, total int) {
	const width = 30
	n := width * done / max(total, 1)
	fmt.Fprintf(b.w, "\r[%s%s] %3d%% %d/%d patients %s", strings.Repeat("#", n), strings.Repeat(".", width-n),
		100*done/max(total, 1), done, total, time.Since(b.t0).Round(time.Second))
	b.drawn = true
}

func (b *progressBar) done() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}
