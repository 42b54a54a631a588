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
	"github.com/nhs-steward/steward/reporting/collector/config"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/schemes"
)

func schemeCommand() *cli.Command {
	return &cli.Command{
		Name:    "scheme",
		Summary: "add and list incentive schemes; record practices' declarations",
		Sub:     []*cli.Command{schemeAddCommand(), schemeListCommand(), schemeDeclareCommand()},
	}
}

// actorFlag declares --actor, who the audit log records.
func actorFlag(fs *flag.FlagSet) {
	fs.String("actor", "", "who to record in the audit log (default: the operating-system user)")
}

// actorName returns --actor, or the operating-system user, or cliActor.
func actorName(fs *flag.FlagSet) string {
	if f := fs.Lookup("actor"); f != nil && f.Value.String() != "" {
		return f.Value.String()
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

func schemeAddCommand() *cli.Command {
	return &cli.Command{
		Name:    "add",
		Summary: "check a scheme file and store it",
		Usage:   "add [--actor NAME] --config FILE SCHEME.yaml",
		Help: `Checks the scheme file (docs/schemes.md) and prints every problem found; an
invalid file exits 3 and nothing is stored. A valid file is stored exactly as
written under its id, which must not be in use.

Example:
  steward-collector scheme add --config collector.yaml schemes/medsip-local-example.yaml`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs)
			actorFlag(fs)
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if fs.NArg() != 1 {
				return cli.Usagef("give one scheme file")
			}
			path := fs.Arg(0)
			s, err := schemes.Load(path)
			var problems schemes.Problems
			if errors.As(err, &problems) {
				for _, p := range problems {
					fmt.Fprintln(stdio.Err, p.String())
				}
				return cli.WithCode(cli.ExitConfig, fmt.Errorf("%s: %d problem(s); nothing stored", path, len(problems)))
			}
			if err != nil {
				return cli.WithCode(cli.ExitConfig, err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			_, db, err := openStore(ctx, fs)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.AddScheme(ctx, store.StoredScheme{ID: s.ID, YAML: string(data), AddedBy: actorName(fs)}); err != nil {
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

func practicesDesc(s *schemes.Scheme) string {
	if s.AllPractices {
		return "all practices of ICB " + s.ICB
	}
	return fmt.Sprintf("%d practices", len(s.Practices))
}

// openScheme opens the store of --config and loads the stored scheme
// named by --scheme; the caller closes the store.
func openScheme(ctx context.Context, fs *flag.FlagSet) (*config.Config, *store.DB, *schemes.Scheme, error) {
	cfg, db, err := openStore(ctx, fs)
	if err != nil {
		return nil, nil, nil, err
	}
	sc, err := loadScheme(ctx, db, fs.Lookup("scheme").Value.String())
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
	return &cli.Command{
		Name:    "list",
		Summary: "list stored schemes",
		Usage:   "list --config FILE",
		Flags:   configFlag,
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			_, db, err := openStore(ctx, fs)
			if err != nil {
				return err
			}
			defer db.Close()
			list, err := db.Schemes(ctx)
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, err)
			}
			tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTITLE\tICB\tPERIODS\tPRACTICES\tADDED\tBY")
			for _, st := range list {
				title, icb, periods, practices := "(does not load)", "-", "-", "-"
				if s, err := schemes.Parse("scheme "+st.ID, []byte(st.YAML)); err == nil {
					title, icb, periods, practices = s.Title, s.ICB, s.Periods.From+" to "+s.Periods.To, practicesDesc(s)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", st.ID, title, icb, periods, practices,
					st.AddedAt.UTC().Format(time.DateTime), strings.TrimSpace(st.AddedBy))
			}
			return tw.Flush()
		},
	}
}
