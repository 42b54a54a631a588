package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/collector/config"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/schemes"
	"github.com/nhs-steward/steward/reporting/tufrepo"
	"github.com/nhs-steward/steward/searches"
)

func schemeCommand() *cli.Command {
	return &cli.Command{
		Name:    "scheme",
		Summary: "check, add, list and retire incentive schemes; record practices' declarations",
		Sub:     []*cli.Command{schemeCheckCommand(), schemeAddCommand(), schemeListCommand(), schemeRetireCommand(), schemeDeclareCommand()},
	}
}

// actorFlag declares --actor, who the audit log records, read into actor.
func actorFlag(fs *flag.FlagSet, actor *string) {
	fs.StringVar(actor, "actor", "", "who to record in the audit log (default: the operating-system user)")
}

// actorName returns actor (--actor) when given, or the operating-system
// user, or cliActor.
func actorName(actor string) string {
	if actor != "" {
		return actor
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "os:" + u.Username
	}
	for _, env := range []string{"USER", "USERNAME"} {
		if v := os.Getenv(env); v != "" {
			return "os:" + v
		}
	}
	return cliActor
}

// checkedScheme is a scheme file that loaded and passed Validate against
// the collector.
type checkedScheme struct {
	path string
	data []byte
	s    *schemes.Scheme
	env  *schemes.Environment
}

// checkSchemeFile loads the scheme file path and validates it against the
// collector of cfg and db, printing every problem and warning on stderr
// (warnings prefixed "warning: "). Any problem is an error with exit code 3
// saying nothing was stored; takenID also refuses an id already stored.
func checkSchemeFile(ctx context.Context, cfg *config.Config, db *store.DB, path string, takenID bool, stdio cli.IO) (*checkedScheme, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, cli.WithCode(cli.ExitConfig, fmt.Errorf("read scheme: %w", err))
	}
	s, err := schemes.Parse(path, data)
	var problems schemes.Problems
	if errors.As(err, &problems) {
		for _, p := range problems {
			fmt.Fprintln(stdio.Err, p.String())
		}
		return nil, cli.WithCode(cli.ExitConfig, fmt.Errorf("%s: %d problem(s); nothing stored", path, len(problems)))
	}
	if err != nil {
		return nil, cli.WithCode(cli.ExitConfig, err)
	}
	env, err := schemeEnvironment(ctx, cfg, db, s)
	if err != nil {
		return nil, err
	}
	problems, warnings := schemes.Validate(s, env)
	if takenID {
		if _, err := db.Scheme(ctx, s.ID); err == nil {
			problems = append(schemes.Problems{{Pos: s.PosOf("id"), Path: "id", Msg: fmt.Sprintf("scheme %s is already stored", s.ID),
				Fix: "a stored scheme is never replaced: give this version a new id, and retire the old one if this replaces it"}}, problems...)
		} else if !errors.Is(err, collector.ErrNotFound) {
			return nil, cli.WithCode(cli.ExitDatabase, err)
		}
	}
	for _, w := range warnings {
		fmt.Fprintln(stdio.Err, "warning: "+w.String())
	}
	for _, p := range problems {
		fmt.Fprintln(stdio.Err, p.String())
	}
	if len(problems) > 0 {
		return nil, cli.WithCode(cli.ExitConfig, fmt.Errorf("%s: %d problem(s); nothing stored", path, len(problems)))
	}
	return &checkedScheme{path: path, data: data, s: s, env: env}, nil
}

// schemeEnvironment gathers what a scheme is checked against: the
// collector's ICB and practices, the versions of the scheme's pack agents
// can run (the built-in pack's, and the bundles the TUF repository
// offers when tuf_repository is set) and the schemes in force.
func schemeEnvironment(ctx context.Context, cfg *config.Config, db *store.DB, s *schemes.Scheme) (*schemes.Environment, error) {
	env := &schemes.Environment{ICB: cfg.ICB, Practices: map[string]string{}, TUF: cfg.TUFRepository != ""}
	practices, err := db.Practices(ctx, "")
	if err != nil {
		return nil, cli.WithCode(cli.ExitDatabase, err)
	}
	for _, p := range practices {
		env.Practices[p.ODS] = p.ICB
	}
	if v, err := searches.BuiltinPackVersion(s.Pack.ID); err == nil {
		env.PackVersions = append(env.PackVersions, schemes.PackVersion{Version: v, Source: "built in", Current: true})
	}
	if env.TUF {
		published, err := tufrepo.PublishedVersions(cfg.TUFRepository, s.Pack.ID)
		if err != nil {
			return nil, cli.WithCode(cli.ExitConfig, fmt.Errorf("tuf_repository: %w", err))
		}
		for i, v := range published {
			if i == len(published)-1 && len(env.PackVersions) > 0 {
				env.PackVersions[0].Current = false // agents run the newest bundle
			}
			env.PackVersions = append(env.PackVersions, schemes.PackVersion{Version: v, Source: "published", Current: i == len(published)-1})
		}
	}
	if env.Stored, err = (&claims.Service{DB: db}).Schemes(ctx); err != nil {
		return nil, cli.WithCode(cli.ExitDatabase, err)
	}
	return env, nil
}

// currentPack says which version of the scheme's pack agents run now.
func currentPack(env *schemes.Environment) string {
	for _, v := range env.PackVersions {
		if v.Current {
			return v.Version + " (" + v.Source + ")"
		}
	}
	return "none known"
}

const schemeChecks = `Checks the file (docs/schemes.md) and then the scheme against this collector:
the ICB is the collector's (icb in the configuration), every practice listed
is in the collector and belongs to that ICB, a version of the pack in the
range is one agents can run (the built-in pack, or a bundle published in
tuf_repository), the periods are one scheme year at most, the baseline and
payment dates are plausible, and sign-off roles mean the same (practice or
ICB role) as in the schemes in force. Each problem is printed as
FILE:LINE:COL: what is wrong (how to fix it). Warnings (a scheme in force
paying the same practices for the same months, agents running a pack
version outside the range) are printed but do not refuse the scheme.`

func schemeCheckCommand() *cli.Command {
	var configFile string
	return &cli.Command{
		Name:    "check",
		Summary: "check a scheme file against the collector without storing it",
		Usage:   "check --config FILE SCHEME.yaml",
		Help: schemeChecks + `

Nothing is stored. Exits 0 when 'scheme add' would accept the file, 3 when
it has problems.

Example:
  steward-collector scheme check --config collector.yaml schemes/medsip-local-example.yaml`,
		Flags: func(fs *flag.FlagSet) { configFlag(fs, &configFile) },
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if fs.NArg() != 1 {
				return cli.Usagef("give one scheme file")
			}
			cfg, db, err := openStore(ctx, configFile)
			if err != nil {
				return err
			}
			defer db.Close()
			c, err := checkSchemeFile(ctx, cfg, db, fs.Arg(0), true, stdio)
			if err != nil {
				return err
			}
			s := c.s
			fmt.Fprintf(stdio.Out, "%s: scheme %s (%s) can be added: ICB %s, periods %s to %s, baseline %s, %s, pack %s %s (agents run %s).\n",
				c.path, s.ID, s.Title, s.ICB, s.Periods.From, s.Periods.To, s.Baseline, practicesDesc(s), s.Pack.ID, s.Pack.Versions, currentPack(c.env))
			return nil
		},
	}
}

func schemeAddCommand() *cli.Command {
	var configFile, actor string
	return &cli.Command{
		Name:    "add",
		Summary: "check a scheme file and store it",
		Usage:   "add [--actor NAME] --config FILE SCHEME.yaml",
		Help: schemeChecks + `

A file with any problem exits 3 and nothing is stored ('scheme check' shows
the same without storing). A valid file is stored exactly as written under
its id, which must not be in use.

Example:
  steward-collector scheme add --config collector.yaml schemes/medsip-local-example.yaml`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &configFile)
			actorFlag(fs, &actor)
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if fs.NArg() != 1 {
				return cli.Usagef("give one scheme file")
			}
			cfg, db, err := openStore(ctx, configFile)
			if err != nil {
				return err
			}
			defer db.Close()
			c, err := checkSchemeFile(ctx, cfg, db, fs.Arg(0), false, stdio)
			if err != nil {
				return err
			}
			s := c.s
			if err := db.AddScheme(ctx, store.StoredScheme{ID: s.ID, YAML: string(c.data), AddedBy: actorName(actor)}); err != nil {
				if errors.Is(err, collector.ErrExists) {
					return fmt.Errorf("%w (a stored scheme is never replaced: give the new version a new id)", err)
				}
				return cli.WithCode(cli.ExitDatabase, err)
			}
			fmt.Fprintf(stdio.Out, "Added scheme %s (%s), periods %s to %s, %s.\n", s.ID, s.Title, s.Periods.From, s.Periods.To, practicesDesc(s))
			return nil
		},
	}
}

func schemeRetireCommand() *cli.Command {
	var configFile, actor, id, reason string
	return &cli.Command{
		Name:    "retire",
		Summary: "retire a scheme: hide it from default views, keep it for audit",
		Usage:   "retire --scheme ID --reason TEXT [--actor NAME] --config FILE",
		Help: `Marks a stored scheme retired, for example when a corrected version replaces
it under a new id. Nothing is deleted: the scheme, its calculations, claims
and their history stay in the store, and 'claim list', 'claim history' and
'scheme list --all' show them. A retired scheme is no longer shown on the
dashboard or by 'scheme list', no longer recalculated, and its claims no
longer move; agents are told it is retired. Refused while any of its claims
is declared or approved: pay them, or send them back, first. Recorded in the
audit log with the reason.

Example:
  steward-collector scheme retire --scheme example-icb-opioid-mos-2026-27 --reason "replaced by example-icb-opioid-mos-2026-27b" --config collector.yaml`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &configFile)
			actorFlag(fs, &actor)
			fs.StringVar(&id, "scheme", "", "the stored scheme's `id`")
			fs.StringVar(&reason, "reason", "", "why it is retired (recorded in the audit log)")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if err := requireFlags(need{"scheme", id}, need{"reason", reason}); err != nil {
				return err
			}
			_, db, err := openStore(ctx, configFile)
			if err != nil {
				return err
			}
			defer db.Close()
			err = db.RetireScheme(ctx, id, actorName(actor), strings.TrimSpace(reason), time.Now())
			switch {
			case errors.Is(err, collector.ErrNotFound):
				return fmt.Errorf("%w ('scheme list --all' shows the schemes stored)", err)
			case errors.Is(err, store.ErrClaimsInProgress):
				return fmt.Errorf("%w; pay them, or send them back to calculated ('claim move'), then retire the scheme", err)
			case errors.Is(err, store.ErrRetired):
				return err
			case err != nil:
				return cli.WithCode(cli.ExitDatabase, err)
			}
			fmt.Fprintf(stdio.Out, "Retired scheme %s: kept for audit ('scheme list --all', 'claim list'), no longer shown or recalculated.\n", id)
			return nil
		},
	}
}

func practicesDesc(s *schemes.Scheme) string {
	if s.AllPractices {
		return "all practices of ICB " + s.ICB
	}
	if len(s.Practices) == 1 {
		return "1 practice"
	}
	return fmt.Sprintf("%d practices", len(s.Practices))
}

// openScheme opens the store of the configuration file configFile
// (--config) and loads the stored scheme id (--scheme); the caller closes
// the store.
func openScheme(ctx context.Context, configFile, id string) (*config.Config, *store.DB, *schemes.Scheme, error) {
	cfg, db, err := openStore(ctx, configFile)
	if err != nil {
		return nil, nil, nil, err
	}
	sc, err := loadScheme(ctx, db, id)
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return cfg, db, sc, nil
}

// loadScheme reads and parses the stored scheme id.
func loadScheme(ctx context.Context, db *store.DB, id string) (*schemes.Scheme, error) {
	st, err := db.Scheme(ctx, id)
	if errors.Is(err, collector.ErrNotFound) {
		return nil, fmt.Errorf("%w (add it with 'scheme add'; 'scheme list' shows those stored)", err)
	}
	if err != nil {
		return nil, cli.WithCode(cli.ExitDatabase, err)
	}
	s, err := schemes.Parse("scheme "+id, []byte(st.YAML))
	if err != nil {
		return nil, cli.WithCode(cli.ExitConfig, fmt.Errorf("stored scheme %s no longer loads: %w", id, err))
	}
	return s, nil
}

func schemeListCommand() *cli.Command {
	var configFile string
	var all bool
	return &cli.Command{
		Name:    "list",
		Summary: "list stored schemes",
		Usage:   "list [--all] --config FILE",
		Help: `Lists the schemes in force; --all adds retired ones, with when, by whom and
why they were retired.`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &configFile)
			fs.BoolVar(&all, "all", false, "list retired schemes too")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			_, db, err := openStore(ctx, configFile)
			if err != nil {
				return err
			}
			defer db.Close()
			list, err := db.Schemes(ctx)
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, err)
			}
			tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
			head := "ID\tTITLE\tICB\tPERIODS\tPRACTICES\tADDED\tBY"
			if all {
				head += "\tRETIRED"
			}
			fmt.Fprintln(tw, head)
			for _, st := range list {
				if st.Retired() && !all {
					continue
				}
				title, icb, periods, practices := "(does not load)", "-", "-", "-"
				if s, err := schemes.Parse("scheme "+st.ID, []byte(st.YAML)); err == nil {
					title, icb, periods, practices = s.Title, s.ICB, s.Periods.From+" to "+s.Periods.To, practicesDesc(s)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s", st.ID, title, icb, periods, practices,
					st.AddedAt.UTC().Format(time.DateTime), strings.TrimSpace(st.AddedBy))
				if all {
					retired := "-"
					if st.Retired() {
						retired = fmt.Sprintf("%s by %s: %s", st.RetiredAt.UTC().Format(time.DateTime), st.RetiredBy, st.RetiredReason)
					}
					fmt.Fprintf(tw, "\t%s", retired)
				}
				fmt.Fprintln(tw)
			}
			return tw.Flush()
		},
	}
}
