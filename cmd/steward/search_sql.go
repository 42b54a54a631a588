package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/searches/compile"
	"github.com/nhs-steward/steward/searches/dialect"
	"github.com/nhs-steward/steward/searches/lang"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/profile"
)

// searchSQLCommand is `steward search sql`: print the SQL a search compiles
// to, with its bind parameters as comments.
func searchSQLCommand() *cli.Command {
	var dialectName, profileSpec, practice, asOf, baseline string
	var params profileParams
	return &cli.Command{
		Name:    "sql",
		Summary: "print the SQL a search compiles to for a dialect and schema profile",
		Usage:   "sql --dialect sqlite|postgres|sqlserver [--profile NAME|FILE [--profile-param NAME=VALUE]] PATH",
		Help: `Compiles the measures of the search file PATH to the SQL the agent runs,
and prints it with every bind parameter listed as a comment. Nothing is run.
On SQL Server the statements that fill the session temporary tables with the
codelists and reference tables come first, and the ones dropping them last.
When measures have a series, the query computing them at every month end of
the series follows.

--profile takes a built-in profile name (canonical, tpp, emis) or a profile file
(*.yaml), with each of its parameters given as --profile-param NAME=VALUE; they are
bind parameters like every other value. The as-of date defaults to the end of last
month, the baseline to 12 months before the as-of date.

Examples:
  steward search sql --dialect sqlite searches/packs/medsip/medsip.yaml
  steward search sql --dialect sqlserver --profile tpp --profile-param organisation_id=12345 \
      --as-of 2025-03-31 searches/packs/medsip/medsip.yaml`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dialectName, "dialect", "sqlite", "SQL dialect: "+strings.Join(dialect.Names(), ", "))
			fs.StringVar(&profileSpec, "profile", "canonical", "schema profile: "+strings.Join(profile.Names(), ", ")+", or a profile file")
			params = profileParams{} // fresh for every parse, like the other flags' defaults
			fs.Var(params, "profile-param", "set a parameter of the profile, name=value (repeatable)")
			fs.StringVar(&practice, "practice", "Y01234", "the practice's ODS code (a bind parameter)")
			fs.StringVar(&asOf, "as-of", "", "as-of date YYYY-MM-DD (default: the end of last month)")
			fs.StringVar(&baseline, "baseline", "", "baseline date YYYY-MM-DD (default: 12 months before the as-of date)")
		},
		Run: func(_ context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if fs.NArg() != 1 {
				return cli.Usagef("want one search file, got %d arguments", fs.NArg())
			}
			d, err := dialect.Lookup(dialectName)
			if err != nil {
				return cli.Usagef("%v", err)
			}
			prof, err := loadProfile(profileSpec, params)
			if err != nil {
				return err
			}
			dates, err := runDates(asOf, baseline, time.Now())
			if err != nil {
				return cli.Usagef("%v", err)
			}
			search, err := lang.LoadSearch(fs.Arg(0))
			if err != nil {
				return cli.WithCode(cli.ExitConfig, err)
			}
			plan, err := model.Resolve(search)
			if err != nil {
				return cli.WithCode(cli.ExitConfig, fmt.Errorf("resolve %s: %w", fs.Arg(0), err))
			}
			st, err := compile.SQL(plan, d, prof, compile.Options{Practice: practice, Dates: dates})
			if err != nil {
				return cli.WithCode(cli.ExitConfig, err)
			}
			fmt.Fprintf(stdio.Out, "-- search %s, as of %s, baseline %s, practice %s\n",
				search.ID, dates.AsOf.Format(time.DateOnly), dates.Baseline.Format(time.DateOnly), practice)
			if _, err := fmt.Fprint(stdio.Out, st.String()); err != nil {
				return err
			}
			sp, n := plan.SeriesPlan()
			if sp == nil {
				return nil
			}
			ss, err := compile.SeriesSQL(sp, d, prof, compile.Options{Practice: practice, Dates: dates}, model.SeriesDates(dates.AsOf, n))
			switch {
			case errors.Is(err, compile.ErrNoSinglePass):
				_, err = fmt.Fprintf(stdio.Out, "\n-- series of %d month ends: one query per month end on this profile (it reads the as-of date in a table's own SQL)\n", n)
				return err
			case err != nil:
				return cli.WithCode(cli.ExitConfig, err)
			}
			_, err = fmt.Fprintf(stdio.Out, "\n-- series of %d month ends, in one query\n%s", n, ss.String())
			return err
		},
	}
}

// runDates parses the as-of and baseline dates, defaulting to the end of
// the month before now and to the month end 12 months before the as-of date.
func runDates(asOf, baseline string, now time.Time) (model.Dates, error) {
	var d model.Dates
	if asOf == "" {
		first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		d.AsOf = first.AddDate(0, 0, -1)
	} else {
		t, err := time.Parse(time.DateOnly, asOf)
		if err != nil {
			return d, fmt.Errorf("--as-of %q is not a date YYYY-MM-DD", asOf)
		}
		d.AsOf = t
	}
	if baseline == "" {
		first := time.Date(d.AsOf.Year(), d.AsOf.Month(), 1, 0, 0, 0, 0, time.UTC)
		d.Baseline = first.AddDate(-1, 1, -1)
	} else {
		t, err := time.Parse(time.DateOnly, baseline)
		if err != nil {
			return d, fmt.Errorf("--baseline %q is not a date YYYY-MM-DD", baseline)
		}
		d.Baseline = t
	}
	return d, nil
}
