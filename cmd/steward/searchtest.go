package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/internal/pgtest"
	"github.com/nhs-steward/steward/searches/conformance"
	"github.com/nhs-steward/steward/searches/fixture"
	"github.com/nhs-steward/steward/searches/profile"
	"github.com/nhs-steward/steward/searches/schema"
)

// searchTestCommand is "steward search test": run fixture files on the
// reference evaluator and the SQL engines, and report each case.
func searchTestCommand() *cli.Command {
	var engineList, pgURL, profileSpec, layout, setup string
	var params profileParams
	return &cli.Command{
		Name:    "test",
		Summary: "run search fixtures (*.test.yaml) on the evaluator and the SQL engines",
		// The framework prints Usage after the parent's path ("steward search").
		Usage: "test [--engines eval,sqlite,postgres] [--pg URL] [--profile NAME|FILE [--layout L] [--setup SQL]] PATH...",
		Help: `Each PATH is a fixture file (steward: search-test/v1) or a directory searched for
*.test.yaml files (sub-directories too, except hidden ones). Every case of every file
runs on each engine:
  eval                the reference evaluator (in memory)
  sqlite              SQLite, in the canonical, tpp and emis layouts (a temporary database
                      per case)
  postgres            PostgreSQL, in the canonical, tpp and emis layouts (a temporary schema
                      per case, dropped afterwards) in the database at --pg or STEWARD_TEST_PG
A layout may be named alone, e.g. --engines sqlite/tpp. By default eval and sqlite run,
and postgres too when a URL is given. On emis, whose tables hold no issue quantities,
expectations that read quantities are skipped, and counted.

--profile reads every case through that profile (a built-in name or a profile file)
instead: each case's data are written in --layout (default: the profile's own layout
when it is built in, else canonical), then the --setup script (SQL statements each
ending with ';' at the end of a line) builds the profile's layout from those tables,
and the SQL engines are named sqlite/PROFILE and postgres/PROFILE. The profile's
parameters take --profile-param values, or the identifiers the fixture writer gives the
case's practice in --layout (organisation_id, organisation_hash).

Each case prints PASS or FAIL with every unmet expectation as file:line:col: what,
got, want. The command exits with status 1 when a case fails, and 3 when a fixture
file is invalid.

Examples:
  steward search test searches/packs/medsip
  steward search test --engines eval my-search.test.yaml
  steward search test --pg postgres://me@localhost/scratch tests/
  steward search test --profile ours.yaml --setup ours-from-canonical.sql searches/packs/medsip`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&engineList, "engines", "", "comma-separated engines: eval, sqlite, postgres, or sqlite/tpp etc. (default eval,sqlite and postgres with --pg)")
			fs.StringVar(&pgURL, "pg", "", "PostgreSQL URL of a scratch database where the user may create schemas (default $STEWARD_TEST_PG)")
			fs.StringVar(&profileSpec, "profile", "", "read the cases through this profile: a built-in name or a profile file")
			params = profileParams{} // fresh for every parse, like the other flags' defaults
			fs.Var(params, "profile-param", "with --profile: set a parameter of the profile, name=value (repeatable)")
			fs.StringVar(&layout, "layout", "", "with --profile: the layout each case's data are written in (canonical, tpp or emis)")
			fs.StringVar(&setup, "setup", "", "with --profile: an SQL script building the profile's layout from the written tables")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if fs.NArg() == 0 {
				return cli.Usagef("give at least one fixture file or directory")
			}
			pg := pgURL
			if pg == "" {
				pg = os.Getenv(pgtest.EnvURL)
			}
			var engines map[string]fixture.Factory
			var err error
			if profileSpec != "" {
				engines, err = profileEngines(profileSpec, params, layout, setup, engineList, pg)
			} else {
				if layout != "" || setup != "" || len(params) > 0 {
					return cli.Usagef("--layout, --setup and --profile-param go with --profile")
				}
				engines, err = testEngines(engineList, pg)
			}
			if err != nil {
				return err
			}
			return runFixtures(ctx, fs.Args(), engines, stdio)
		},
	}
}

// profileEngines are the evaluator and the SQL engines reading each case
// through one profile.
func profileEngines(spec string, params profileParams, layout, setupFile, list, pg string) (map[string]fixture.Factory, error) {
	prof, err := profile.Load(spec, "")
	if err != nil {
		return nil, cli.WithCode(cli.ExitConfig, err)
	}
	l := schema.Canonical
	if layout != "" {
		if l, err = schema.ParseLayout(layout); err != nil {
			return nil, cli.Usagef("--layout: %v", err)
		}
	} else if !profile.IsFile(spec) {
		l = schema.Layout(spec)
	}
	var setup []string
	if setupFile != "" {
		b, err := os.ReadFile(setupFile)
		if err != nil {
			return nil, cli.WithCode(cli.ExitConfig, fmt.Errorf("--setup: %w", err))
		}
		setup = conformance.SplitScript(string(b))
	}
	// Check the parameters now, once, rather than in every case.
	bindFor := func(practice string) map[string]string {
		out := map[string]string{}
		written := schema.Parameters(l, practice)
		for _, prm := range prof.Parameters {
			if v, ok := written[prm.Name]; ok {
				out[prm.Name] = v
			}
		}
		for k, v := range params {
			out[k] = v
		}
		return out
	}
	if _, err := prof.Bind(bindFor("Y01234")); err != nil {
		return nil, cli.WithCode(cli.ExitConfig, err)
	}
	out := map[string]fixture.Factory{}
	want := map[string]bool{"eval": true, "sqlite": true, "postgres": pg != ""}
	if list != "" {
		want = map[string]bool{}
		for _, name := range strings.Split(list, ",") {
			want[strings.TrimSpace(name)] = true
		}
	}
	for name := range want {
		switch name {
		case "eval":
			out[name] = conformance.Eval()
		case "sqlite":
			out["sqlite/"+prof.Name] = conformance.SQLiteWith(l, prof, setup, bindFor)
		case "postgres":
			if pg == "" {
				return nil, cli.Usagef("engine postgres needs --pg URL (or STEWARD_TEST_PG)")
			}
			out["postgres/"+prof.Name] = conformance.PostgresWith(pg, l, prof, setup, bindFor)
		default:
			return nil, cli.Usagef("unknown engine %q with --profile (want eval, sqlite or postgres)", name)
		}
	}
	return out, nil
}

// testEngines picks the engine factories named in list.
func testEngines(list, pg string) (map[string]fixture.Factory, error) {
	all := conformance.Engines(pg)
	if list == "" {
		return all, nil
	}
	out := map[string]fixture.Factory{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		switch name {
		case "eval":
			out[name] = conformance.Eval()
		case "sqlite":
			for _, l := range conformance.Layouts {
				out["sqlite/"+string(l)] = conformance.SQLite(l)
			}
		case "sqlite/" + string(schema.Canonical), "sqlite/" + string(schema.TPP), "sqlite/" + string(schema.EMIS):
			out[name] = conformance.SQLite(schema.Layout(strings.TrimPrefix(name, "sqlite/")))
		case "postgres", "postgres/" + string(schema.Canonical), "postgres/" + string(schema.TPP), "postgres/" + string(schema.EMIS):
			if pg == "" {
				return nil, cli.Usagef("engine %s needs --pg URL (or STEWARD_TEST_PG)", name)
			}
			for _, l := range conformance.Layouts {
				if n := "postgres/" + string(l); name == "postgres" || name == n {
					out[n] = conformance.Postgres(pg, l)
				}
			}
		default:
			return nil, cli.Usagef("unknown engine %q (want eval, sqlite, postgres, or sqlite/ or postgres/ followed by canonical, tpp or emis)", name)
		}
	}
	return out, nil
}

// fixtureFiles expands paths into fixture files, in a stable order.
func fixtureFiles(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, cli.WithCode(cli.ExitConfig, fmt.Errorf("fixture path: %w", err))
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != p && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(d.Name(), ".test.yaml") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, cli.WithCode(cli.ExitConfig, fmt.Errorf("find fixtures: %w", err))
		}
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

func runFixtures(ctx context.Context, paths []string, engines map[string]fixture.Factory, stdio cli.IO) error {
	files, err := fixtureFiles(paths)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return cli.WithCode(cli.ExitConfig, errors.New("no fixture files (*.test.yaml) found"))
	}
	names := make([]string, 0, len(engines))
	for n := range engines {
		names = append(names, n)
	}
	slices.Sort(names)
	cases, failed, invalid := 0, 0, 0
	for _, path := range files {
		f, err := fixture.Load(path)
		if err != nil {
			invalid++
			fmt.Fprintf(stdio.Out, "INVALID %s\n", path)
			for _, line := range strings.Split(err.Error(), "\n") {
				fmt.Fprintf(stdio.Out, "    %s\n", line)
			}
			continue
		}
		outcomes := fixture.Run(ctx, f, engines)
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, c := range f.Cases {
			cases++
			var bad []fixture.Outcome
			var took time.Duration
			for _, o := range outcomes {
				if o.Case != c {
					continue
				}
				took += o.Duration
				if o.Failed() {
					bad = append(bad, o)
				}
			}
			var skipped []string
			for _, o := range outcomes {
				if o.Case == c && len(o.Skipped) > 0 {
					skipped = append(skipped, fmt.Sprintf("%d on %s", len(o.Skipped), o.Engine))
				}
			}
			note := ""
			if len(skipped) > 0 {
				note = "; skipped, reading quantities the layout lacks: " + strings.Join(skipped, ", ")
			}
			if len(bad) == 0 {
				fmt.Fprintf(stdio.Out, "PASS %s: %s (%s; %v%s)\n", path, c.Name, strings.Join(names, ", "), took.Round(time.Millisecond), note)
				continue
			}
			failed++
			fmt.Fprintf(stdio.Out, "FAIL %s: %s\n", path, c.Name)
			for _, o := range bad {
				fmt.Fprintf(stdio.Out, "    on %s:\n", o.Engine)
				if o.Err != nil {
					fmt.Fprintf(stdio.Out, "        %s: %v\n", c.Pos, o.Err)
				}
				for _, d := range o.Diffs {
					fmt.Fprintf(stdio.Out, "        %s\n", d)
				}
			}
		}
	}
	fmt.Fprintf(stdio.Out, "%d cases in %d files on %s: %d passed, %d failed", cases, len(files)-invalid, strings.Join(names, ", "), cases-failed, failed)
	if invalid > 0 {
		fmt.Fprintf(stdio.Out, "; %d invalid files", invalid)
	}
	fmt.Fprintln(stdio.Out)
	switch {
	case invalid > 0:
		return cli.WithCode(cli.ExitConfig, fmt.Errorf("%d invalid fixture files", invalid))
	case failed > 0:
		return cli.WithCode(cli.ExitFailure, fmt.Errorf("%d of %d cases failed", failed, cases))
	}
	return nil
}
