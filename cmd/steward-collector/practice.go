package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"regexp"
	"text/tabwriter"
	"time"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
	"github.com/nhs-steward/steward/reporting/collector/store"
)

var odsPattern = regexp.MustCompile(`^[A-Z0-9]{3,10}$`)

func practiceCommand() *cli.Command {
	return &cli.Command{
		Name:    "practice",
		Summary: "add and list practices; issue enrolment codes; record list sizes",
		Sub:     []*cli.Command{practiceAddCommand(), practiceCodeCommand(), practiceListCommand(), practiceSilentCommand(), practiceListSizeCommand()},
	}
}

func practiceAddCommand() *cli.Command {
	var configFile string
	var p collector.Practice
	return &cli.Command{
		Name:    "add",
		Summary: "add a practice and print its one-time enrolment code",
		Usage:   "add --ods CODE --name NAME [--icb CODE] [--pcn NAME] --config FILE",
		Help: `Prints a one-time enrolment code for the practice's agent. Only a hash of it
is stored: it cannot be shown again (issue a new one with 'practice code').
It expires after the configured enrolment_code_lifetime and works once.

Example:
  steward-collector practice add --ods Y01234 --name "Riverside Surgery" --icb QWE --config collector.yaml`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &configFile)
			fs.StringVar(&p.ODS, "ods", "", "the practice's ODS `code`")
			fs.StringVar(&p.Name, "name", "", "the practice's `name`")
			fs.StringVar(&p.ICB, "icb", "", "the ICB `code` (default: the configured icb)")
			fs.StringVar(&p.PCN, "pcn", "", "the primary care network `name`")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if err := requireFlags(need{"ods", p.ODS}, need{"name", p.Name}); err != nil {
				return err
			}
			if !odsPattern.MatchString(p.ODS) {
				return cli.Usagef("--ods %q is not an ODS code (upper-case letters and digits, e.g. Y01234)", p.ODS)
			}
			cfg, db, err := openStore(ctx, configFile)
			if err != nil {
				return err
			}
			defer db.Close()
			if p.ICB == "" {
				p.ICB = cfg.ICB
			}
			if err := db.AddPractice(ctx, p, cliActor); err != nil {
				if errors.Is(err, collector.ErrExists) {
					return fmt.Errorf("%w (to re-enrol it, run 'practice code --ods %s')", err, p.ODS)
				}
				return cli.WithCode(cli.ExitDatabase, err)
			}
			fmt.Fprintf(stdio.Out, "Added practice %s (%s) in ICB %s.\n", p.ODS, p.Name, p.ICB)
			return issueCode(ctx, db, p.ODS, cfg.EnrolmentCodeLifetime, stdio)
		},
	}
}

func issueCode(ctx context.Context, db *store.DB, ods string, lifetime time.Duration, stdio cli.IO) error {
	code, err := auth.NewEnrolmentCode()
	if err != nil {
		return err
	}
	now := time.Now()
	expires := now.Add(lifetime)
	if err := db.AddEnrolmentCode(ctx, ods, auth.HashEnrolmentCode(code), now, expires, cliActor); err != nil {
		return cli.WithCode(cli.ExitDatabase, err)
	}
	fmt.Fprintf(stdio.Out, "One-time enrolment code for %s (valid until %s, works once; give it to the practice manager):\n\n  %s\n\n",
		ods, expires.UTC().Format("2006-01-02 15:04 UTC"), code)
	return nil
}

func practiceCodeCommand() *cli.Command {
	var configFile, ods string
	return &cli.Command{
		Name:    "code",
		Summary: "issue a new one-time enrolment code for a practice (re-enrolment)",
		Usage:   "code --ods CODE --config FILE",
		Help: `Enrolling with the new code replaces the practice's agent key, e.g. after
the practice server is replaced.`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &configFile)
			fs.StringVar(&ods, "ods", "", "the practice's ODS `code`")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if err := requireFlags(need{"ods", ods}); err != nil {
				return err
			}
			cfg, db, err := openStore(ctx, configFile)
			if err != nil {
				return err
			}
			defer db.Close()
			if _, err := db.Practice(ctx, ods); err != nil {
				return fmt.Errorf("%w (add it with 'practice add')", err)
			}
			return issueCode(ctx, db, ods, cfg.EnrolmentCodeLifetime, stdio)
		},
	}
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func practiceListCommand() *cli.Command {
	var configFile, icb string
	return &cli.Command{
		Name:    "list",
		Summary: "list practices, whether enrolled and when last heard from",
		Usage:   "list [--icb CODE] --config FILE",
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &configFile)
			fs.StringVar(&icb, "icb", "", "only this ICB's practices")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			_, db, err := openStore(ctx, configFile)
			if err != nil {
				return err
			}
			defer db.Close()
			ps, err := db.Practices(ctx, icb)
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, err)
			}
			beats, err := db.LastHeartbeats(ctx, icb)
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, err)
			}
			tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ODS\tNAME\tICB\tPCN\tENROLLED\tKEY ID\tLAST HEARTBEAT\tAGENT")
			for _, p := range ps {
				hb := beats[p.ODS]
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ODS, p.Name, p.ICB, dash(p.PCN), when(p.EnrolledAt), dash(p.KeyID), when(hb.ReceivedAt), dash(hb.AgentVersion))
			}
			return tw.Flush()
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func practiceSilentCommand() *cli.Command {
	var configFile, icb string
	var days int
	return &cli.Command{
		Name:    "silent",
		Summary: "list enrolled practices with no heartbeat for N days",
		Usage:   "silent [--days N] [--icb CODE] --config FILE",
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &configFile)
			fs.IntVar(&days, "days", 0, "days of silence (default: the configured heartbeat_silence_days)")
			fs.StringVar(&icb, "icb", "", "only this ICB's practices")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			cfg, db, err := openStore(ctx, configFile)
			if err != nil {
				return err
			}
			defer db.Close()
			if days <= 0 {
				days = cfg.HeartbeatSilenceDays
			}
			silent, err := db.SilentPractices(ctx, icb, time.Duration(days)*24*time.Hour, time.Now())
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, err)
			}
			tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ODS\tNAME\tICB\tLAST HEARTBEAT")
			for _, s := range silent {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Practice.ODS, s.Practice.Name, s.Practice.ICB, when(s.LastHeartbeat))
			}
			return tw.Flush()
		},
	}
}
