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
			configFlag(fs)
			fs.String("ods", "", "the practice's ODS `code`")
			fs.String("name", "", "the practice's `name`")
			fs.String("icb", "", "the ICB `code` (default: the configured icb)")
			fs.String("pcn", "", "the primary care network `name`")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if err := requireFlags(fs, "ods", "name"); err != nil {
				return err
			}
			p := collector.Practice{
				ODS: fs.Lookup("ods").Value.String(), Name: fs.Lookup("name").Value.String(),
				ICB: fs.Lookup("icb").Value.String(), PCN: fs.Lookup("pcn").Value.String(),
			}
			if !odsPattern.MatchString(p.ODS) {
				return cli.Usagef("--ods %q is not an ODS code (upper-case letters and digits, e.g. Y01234)", p.ODS)
			}
			cfg, db, err := openStore(ctx, fs)
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
	return &cli.Command{
		Name:    "code",
		Summary: "issue a new one-time enrolment code for a practice (re-enrolment)",
		Usage:   "code --ods CODE --config FILE",
		Help: `Enrolling with the new code replaces the practice's agent key, e.g. after
the practice server is replaced.`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs)
			fs.String("ods", "", "the practice's ODS `code`")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if err := requireFlags(fs, "ods"); err != nil {
				return err
			}
			cfg, db, err := openStore(ctx, fs)
			if err != nil {
				return err
			}
			defer db.Close()
			ods := fs.Lookup("ods").Value.String()
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
	return &cli.Command{
		Name:    "list",
		Summary: "list practices, whether enrolled and when last heard from",
		Usage:   "list [--icb CODE] --config FILE",
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs)
			fs.String("icb", "", "only this ICB's practices")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			_, db, err := openStore(ctx, fs)
			if err != nil {
				return err
			}
			defer db.Close()
			icb := fs.Lookup("icb").Value.String()
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
	return &cli.Command{
		Name:    "silent",
		Summary: "list enrolled practices with no heartbeat for N days",
		Usage:   "silent [--days N] [--icb CODE] --config FILE",
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs)
			fs.Int("days", 0, "days of silence (default: the configured heartbeat_silence_days)")
			fs.String("icb", "", "only this ICB's practices")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			cfg, db, err := openStore(ctx, fs)
			if err != nil {
				return err
			}
			defer db.Close()
			days := fs.Lookup("days").Value.(flag.Getter).Get().(int)
			if days <= 0 {
				days = cfg.HeartbeatSilenceDays
			}
			silent, err := db.SilentPractices(ctx, fs.Lookup("icb").Value.String(), time.Duration(days)*24*time.Hour, time.Now())
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
