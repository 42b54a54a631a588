package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/internal/redact"
	"github.com/nhs-steward/steward/reporting/run"
	"github.com/nhs-steward/steward/searches/dialect"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/profile"
	"github.com/nhs-steward/steward/searches/profile/check"
)

// profileParams collects repeated --profile-param name=value flags.
type profileParams map[string]string

func (p profileParams) String() string {
	var parts []string
	for k, v := range p {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (p profileParams) Set(s string) error {
	name, val, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("want name=value, e.g. organisation_id=12345")
	}
	p[strings.TrimSpace(name)] = strings.TrimSpace(val)
	return nil
}

const profileFlagHelp = "schema profile: a built-in name (canonical, tpp, emis) or a profile file (*.yaml)"

// profileFlags declares --profile and --profile-param.
func profileFlags(fs *flag.FlagSet, spec *string, params profileParams) {
	fs.StringVar(spec, "profile", "canonical", profileFlagHelp)
	fs.Var(params, "profile-param", "set a parameter of the profile, name=value (repeatable), e.g. organisation_id=12345")
}

// loadProfile loads the profile a command line names and binds its
// parameters; problems are configuration errors with their fix.
func loadProfile(spec string, params profileParams) (*profile.Profile, error) {
	p, err := run.LoadProfile(spec, "", params)
	if err != nil {
		return nil, cli.WithCode(cli.ExitConfig, err)
	}
	return p, nil
}

// profileCommand is `steward profile`: lint and check schema profiles.
func profileCommand() *cli.Command {
	return &cli.Command{
		Name:    "profile",
		Summary: "lint schema profiles and check one against a practice database",
		Help: `A schema profile maps Steward's canonical tables onto a practice database's own
layout (docs/layouts.md). Built in: canonical, tpp (SystmOne) and emis (EMIS Web); any
other layout is a profile file.`,
		Sub: []*cli.Command{profileLintCommand(), profileCheckCommand()},
	}
}

func profileLintCommand() *cli.Command {
	return &cli.Command{
		Name:    "lint",
		Summary: "check profile files, reporting every problem",
		Usage:   "lint FILE...",
		Help: `Reads each profile file (steward: profile/v1) as the agent would and prints every
problem one a line as file:line:col: what is wrong (how to fix): unknown keys, a missing
table or dialect, a placeholder that is neither built in ({{as_of}}, {{practice_ods}}) nor
a declared parameter, a parameter no fragment uses, a ';', a canonical column a fragment
never names. Exits 3 on any problem. Nothing is run: steward profile check does that
against a database. The JSON Schema docs/profile.schema.json gives editors the same
shape.

Examples:
  steward profile lint ours.yaml
  steward profile lint profiles/*.yaml`,
		Run: func(_ context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if fs.NArg() == 0 {
				return cli.Usagef("give at least one profile file")
			}
			problems, bad := 0, 0
			for _, path := range fs.Args() {
				p, err := profile.LoadFile(path)
				var ps profile.Problems
				switch {
				case errors.As(err, &ps):
					bad++
					problems += len(ps)
					fmt.Fprintln(stdio.Out, ps.Error())
				case err != nil:
					bad++
					problems++
					fmt.Fprintf(stdio.Out, "%s: %v\n", path, err)
				default:
					params := "no parameters"
					if len(p.Parameters) > 0 {
						var names []string
						for _, prm := range p.Parameters {
							names = append(names, prm.Name+" ("+string(prm.Type)+")")
						}
						params = "parameters " + strings.Join(names, ", ")
					}
					lacks := ""
					if l := p.Lacking(); len(l) > 0 {
						lacks = "; lacks " + strings.Join(l, ", ")
					}
					fmt.Fprintf(stdio.Out, "%s: ok: profile %s, %s%s\n", path, p.Name, params, lacks)
				}
			}
			if problems > 0 {
				return cli.WithCode(cli.ExitConfig, fmt.Errorf("%d %s in %d %s", problems, plural(problems, "problem"), bad, plural(bad, "file")))
			}
			return nil
		},
	}
}

func profileCheckCommand() *cli.Command {
	var (
		db, spec, practice, asOf, pack string
		timeout                        time.Duration
		params                         = profileParams{}
	)
	return &cli.Command{
		Name:    "check",
		Summary: "check a profile against a practice database and report what the data say",
		Usage:   "check --db URL --profile P [--profile-param NAME=VALUE] [--practice ODS] [--as-of DATE]",
		Help: `Runs every fragment of the profile on the database (read-only), checks that every
canonical column is present with a usable type, and reports what a practice manager can
act on: rows per table, the dates covered, the newest record, the share of medication
issues whose drug maps to no dm+d code, unreadable quantities and dates, sentinel dates
seen, patients with no registration, and the patients registered at the practice on the
as-of date (with the organisations holding most patients when there are none, so that a
wrong Organisation_ID shows). Each problem names its fix. A layout that cannot supply
issue quantities (emis) is named with the measures it cannot compute.

Exit codes: 0 no failures (warnings may be printed), 4 a failure, 3 a bad profile.

Examples:
  steward profile check --db sqlite:practice.db --profile canonical --practice Y01234
  steward profile check --db sqlserver://reader@srv?database=SRE --profile tpp \
      --profile-param organisation_id=12345 --practice Y01234
  steward profile check --db postgres://reader@host/extract --profile ours.yaml --as-of 2025-03-31`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&db, "db", "", "practice database: sqlite:PATH, postgres://..., sqlserver://...")
			profileFlags(fs, &spec, params)
			fs.StringVar(&practice, "practice", "", "the practice's ODS code: count who is registered there")
			fs.StringVar(&asOf, "as-of", "", "as-of date YYYY-MM-DD (default: the end of last month)")
			fs.StringVar(&pack, "pack", "medsip", "pack whose measures a layout without quantities cannot compute")
			fs.DurationVar(&timeout, "timeout", 30*time.Minute, "give up after this long")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if fs.NArg() > 0 {
				return cli.Usagef("unexpected argument %q", fs.Arg(0))
			}
			if db == "" {
				return cli.Usagef("--db is required")
			}
			var at time.Time
			if asOf != "" {
				t, err := time.Parse(time.DateOnly, asOf)
				if err != nil {
					return cli.Usagef("--as-of %q is not a date (YYYY-MM-DD)", asOf)
				}
				at = t
			}
			prof, err := loadProfile(spec, params)
			if err != nil {
				return err
			}
			var plans []*model.Plan
			if pack != "" {
				p, err := run.LoadPack(pack)
				if err != nil {
					return cli.WithCode(cli.ExitConfig, err)
				}
				for _, s := range p.Searches {
					pl, err := model.Resolve(s)
					if err != nil {
						return cli.WithCode(cli.ExitConfig, err)
					}
					plans = append(plans, pl)
				}
			}
			conn, d, err := dialect.Open(db)
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, redact.Secrets(err, db))
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			r, err := check.Run(ctx, conn, d, prof, check.Options{Practice: strings.ToUpper(practice), AsOf: at, Plans: plans})
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, fmt.Errorf("profile check: %w", redact.Query(err, db)))
			}
			r.WriteText(stdio.Out)
			if r.Failed() {
				return cli.WithCode(cli.ExitDatabase, fmt.Errorf("profile %s does not fit the database: %d %s (see fix: above)", prof.Name, r.Count(check.Fail), plural(r.Count(check.Fail), "failure")))
			}
			return nil
		},
	}
}
