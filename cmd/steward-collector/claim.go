package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/internal/diag"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/schemes"
)

func claimCommand() *cli.Command {
	return &cli.Command{
		Name:    "claim",
		Summary: "list claims, show their history and move them (declare, approve, pay)",
		Sub:     []*cli.Command{claimListCommand(), claimHistoryCommand(), claimMoveCommand()},
	}
}

// schemePeriod holds the flags naming a stored scheme's period.
type schemePeriod struct{ config, scheme, period string }

// flags declares --config, --scheme and --period.
func (sp *schemePeriod) flags(fs *flag.FlagSet) {
	configFlag(fs, &sp.config)
	fs.StringVar(&sp.scheme, "scheme", "", "the stored scheme's `id`")
	fs.StringVar(&sp.period, "period", "", "the `month`, YYYY-MM")
}

// require refuses an empty --scheme or --period.
func (sp *schemePeriod) require() error {
	return requireFlags(need{"scheme", sp.scheme}, need{"period", sp.period})
}

func claimListCommand() *cli.Command {
	var sp schemePeriod
	return &cli.Command{
		Name:    "list",
		Summary: "list a calculated period's claims with their states and totals",
		Usage:   "list --scheme ID --period YYYY-MM --config FILE",
		Help: `Shows the stored calculation (run 'reconcile' first): each practice's claim
state, when it last moved, and the total payable and indicative.

Example:
  steward-collector claim list --scheme example-icb-opioid-mos-2026-27 --period 2027-03 --config collector.yaml`,
		Flags: sp.flags,
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if err := sp.require(); err != nil {
				return err
			}
			_, db, sc, err := openScheme(ctx, sp.config, sp.scheme)
			if err != nil {
				return err
			}
			defer db.Close()
			period := sp.period
			if err := claims.CheckPeriod(sc, period); err != nil {
				return cli.Usagef("--period: %v", err)
			}
			rec, version, err := (&claims.Service{DB: db}).Calculated(ctx, sc, period)
			if errors.Is(err, claims.ErrNotCalculated) {
				return fmt.Errorf("%w: run 'steward-collector reconcile --scheme %s --period %s' first", err, sc.ID, period)
			}
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, err)
			}
			stored, err := db.Claims(ctx, sc.ID, period)
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, err)
			}
			fmt.Fprintf(stdio.Out, "Scheme %s, period %s, calculation version %d\n\n", sc.ID, period, version)
			tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ODS\tNAME\tSTATE\tSINCE\tPAYABLE £\tINDICATIVE £\tPAID £")
			count := map[schemes.State]int{}
			var changed []string
			for _, pr := range rec.Practices {
				count[pr.State]++
				paid := "-"
				if p := stored[pr.ODS].PaidPence; p != nil {
					paid = schemes.FormatPence(*p)
					if *p != pr.TotalPence {
						paid += " (figures changed since)"
						changed = append(changed, pr.ODS)
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", pr.ODS, dash(pr.Name), pr.State, when(stored[pr.ODS].UpdatedAt),
					schemes.FormatPence(pr.TotalPence), schemes.FormatPence(pr.IndicativePence), paid)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			var parts []string
			for _, st := range schemes.States {
				parts = append(parts, fmt.Sprintf("%s %d", st, count[st]))
			}
			fmt.Fprintf(stdio.Out, "\nClaims: %s\n", strings.Join(parts, ", "))
			if len(changed) > 0 {
				fmt.Fprintf(stdio.Out, "Figures changed after payment (settle outside the scheme): %s\n", strings.Join(changed, " "))
			}
			return nil
		},
	}
}

func claimHistoryCommand() *cli.Command {
	var sp schemePeriod
	var ods string
	return &cli.Command{
		Name:    "history",
		Summary: "show who moved a claim, when and why",
		Usage:   "history --scheme ID --period YYYY-MM [--ods CODE] --config FILE",
		Help: `Lists every recorded move of the period's claims (of one practice with
--ods), oldest first: when (UTC), who, with which sign-off role, from and
to, and the reason.

Example:
  steward-collector claim history --scheme example-icb-opioid-mos-2026-27 --period 2027-03 --ods Y01001 --config collector.yaml`,
		Flags: func(fs *flag.FlagSet) {
			sp.flags(fs)
			fs.StringVar(&ods, "ods", "", "one practice's ODS `code`")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if err := sp.require(); err != nil {
				return err
			}
			_, db, err := openStore(ctx, sp.config)
			if err != nil {
				return err
			}
			defer db.Close()
			events, err := db.ClaimEvents(ctx, sp.scheme, sp.period, ods)
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, err)
			}
			rows, err := withCorrections(ctx, db, events, sp.period, ods)
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, err)
			}
			tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AT\tODS\tWHO\tROLE\tFROM\tTO\tREASON")
			for _, e := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.At.UTC().Format("2006-01-02 15:04:05"), e.Practice, e.Actor, dash(e.Role), dash(string(e.From)), e.to(), dash(e.Reason))
			}
			return tw.Flush()
		},
	}
}

// historyLine is a line of 'claim history': a recorded move of a claim,
// or a correction of the figures a claim stands on, which moves nothing.
type historyLine struct {
	schemes.Event
	// corrected: a correction, with no states (From and To are empty).
	corrected bool
}

// to is what the TO column shows.
func (l historyLine) to() string {
	if l.corrected {
		return "figures corrected"
	}
	return string(l.To)
}

// withCorrections adds to a period's claim events the corrections the
// practices sent for its month (steward-agent resend), with their reasons,
// in time order: a correction changes the figures a claim is paid on.
func withCorrections(ctx context.Context, db *store.DB, events []schemes.Event, period, ods string) ([]historyLine, error) {
	out := make([]historyLine, 0, len(events))
	for _, e := range events {
		out = append(out, historyLine{Event: e})
	}
	p, err := time.Parse("2006-01", period)
	if err != nil {
		return out, nil
	}
	asOf := p.AddDate(0, 1, -1).Format(time.DateOnly)
	subs, err := db.SubmissionHistory(ctx, store.SubmissionFilter{Practice: ods, AsOf: asOf})
	if err != nil {
		return nil, err
	}
	for _, sub := range subs {
		if sub.Corrects == "" {
			continue
		}
		out = append(out, historyLine{corrected: true, Event: schemes.Event{At: sub.ReceivedAt, Practice: sub.Practice, Actor: "practice:" + sub.Practice,
			Reason: sub.CorrectionReason + " (submission " + sub.IdempotencyKey + " replaces " + sub.Corrects + ")"}})
	}
	slices.SortStableFunc(out, func(a, b historyLine) int { return a.At.Compare(b.At) })
	return out, nil
}

func claimMoveCommand() *cli.Command {
	var sp schemePeriod
	var ods, state, user, reason string
	return &cli.Command{
		Name:    "move",
		Summary: "move a claim on (declare, approve, pay) or back to calculated, as a named user",
		Usage:   "move --scheme ID --period YYYY-MM --ods CODE --to STATE --user NAME [--reason TEXT] --config FILE",
		Help: `Moves one practice's claim as the collector user --user, who must hold a
sign-off role the scheme allows for the move ('user add --sign-off'):

  calculated -> declared    a declare role, acting for that practice
  declared   -> approved    an approve role
  approved   -> paid        a pay role
  declared or approved -> calculated   an approve role; --reason required

The period is recalculated first: if the practice's figures changed since
the last calculation its claim is already back at calculated and a move
from declared or approved is refused. A claim with nothing payable is
closed by the collector with the reason ('claim history') and needs no
sign-off: no one moves it, and it reopens to calculated when figures make
something payable. The user must belong to the scheme's ICB and be able to
see the practice; a retired scheme's claims do not move. Every move is audited ('claim
history'). The web dashboard offers the same moves.

Examples:
  steward-collector claim move --scheme example-icb-opioid-mos-2026-27 --period 2027-03 --ods Y01001 --to declared --user pm-y01001 --config collector.yaml
  steward-collector claim move --scheme example-icb-opioid-mos-2026-27 --period 2027-03 --ods Y01001 --to calculated --reason "list size wrong" --user mo-lead --config collector.yaml`,
		Flags: func(fs *flag.FlagSet) {
			sp.flags(fs)
			fs.StringVar(&ods, "ods", "", "the practice's ODS `code`")
			fs.StringVar(&state, "to", "", "the `state` to move to: declared, approved, paid or calculated")
			fs.StringVar(&user, "user", "", "the collector user `name` making the move")
			fs.StringVar(&reason, "reason", "", "why (required to move back to calculated)")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if err := requireFlags(need{"scheme", sp.scheme}, need{"period", sp.period}, need{"ods", ods}, need{"to", state}, need{"user", user}); err != nil {
				return err
			}
			to := schemes.State(state)
			switch to {
			case schemes.Declared, schemes.Approved, schemes.Paid, schemes.Calculated:
			default:
				return cli.Usagef("--to %q: want declared, approved, paid or calculated", to)
			}
			_, db, err := openStore(ctx, sp.config)
			if err != nil {
				return err
			}
			defer db.Close()
			u, err := db.UserByName(ctx, user)
			if err != nil {
				return fmt.Errorf("--user: %w ('user list' shows the users)", err)
			}
			if u.Disabled {
				return fmt.Errorf("--user: %s is disabled", u.Name)
			}
			req := claims.MoveRequest{Scheme: sp.scheme, Period: sp.period, Practice: ods, To: to, Reason: reason}
			ev, err := (&claims.Service{DB: db}).Move(ctx, req, u)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdio.Out, "Claim %s %s %s: %s -> %s by %s (%s).\n", ev.Scheme, ev.Period, ev.Practice, ev.From, ev.To, ev.Actor, ev.Role)
			return nil
		},
	}
}

func practiceListSizeCommand() *cli.Command {
	var configFile, actor, month string
	return &cli.Command{
		Name:    "list-size",
		Summary: "record practices' registered list sizes from a CSV",
		Usage:   "list-size --month YYYY-MM [--actor NAME] --config FILE SIZES.csv",
		Help: `Reads a CSV with the header ods,list_size (extra columns are refused) and
records each practice's registered list size (all ages) from --month on,
until a later month's entry. Schemes use it for per-registered-patient
tiers and QOF-style list-size adjustment. NHS England publishes list sizes
monthly ("Patients Registered at a GP Practice"); a file cut to these two
columns loads as it is. Every practice must already exist; the whole file
is stored or none of it.

Example:
  steward-collector practice list-size --month 2027-01 --config collector.yaml list-sizes-2027-01.csv`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &configFile)
			actorFlag(fs, &actor)
			fs.StringVar(&month, "month", "", "the `month` (YYYY-MM) the sizes apply from")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if err := requireFlags(need{"month", month}); err != nil {
				return err
			}
			if err := checkMonth("month", month); err != nil {
				return err
			}
			if fs.NArg() != 1 {
				return cli.Usagef("give one CSV file")
			}
			sizes, err := readListSizes(fs.Arg(0), month)
			if err != nil {
				return cli.WithCode(cli.ExitConfig, err)
			}
			_, db, err := openStore(ctx, configFile)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.SetListSizes(ctx, sizes, actorName(actor), time.Now()); err != nil {
				if errors.Is(err, collector.ErrNotFound) {
					return fmt.Errorf("%s: %w (add the practice first; nothing stored)", fs.Arg(0), err)
				}
				return cli.WithCode(cli.ExitDatabase, err)
			}
			fmt.Fprintf(stdio.Out, "Recorded %d list sizes from %s.\n", len(sizes), month)
			return nil
		},
	}
}

// readListSizes reads a CSV with header ods,list_size.
func readListSizes(path, month string) ([]store.ListSize, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseListSizes(path, io.LimitReader(f, 16<<20), month)
}

// maxListSizeProblems bounds how many problems one list-size file reports:
// a file that is wrong throughout is not read to its end.
const maxListSizeProblems = 100

// parseListSizes reads list sizes from a CSV with header ods,list_size,
// naming the file path in errors. A spreadsheet's UTF-8 byte order mark
// before the header is allowed. A refused file is a diag.Problems listing
// every problem, each at its line and column, as the other loaders do.
func parseListSizes(path string, in io.Reader, month string) ([]store.ListSize, error) {
	br := bufio.NewReader(in)
	if b, err := br.Peek(3); err == nil && string(b) == "\ufeff" {
		br.Discard(3)
	}
	var ps diag.Problems
	add := func(line, col int, fix, format string, a ...any) {
		ps = append(ps, diag.Problem{Pos: diag.Pos{File: path, Line: line, Col: max(col, 1)}, Msg: fmt.Sprintf(format, a...), Fix: fix})
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = 2
	header, err := r.Read()
	var pe *csv.ParseError
	switch {
	case errors.Is(err, io.EOF):
		add(1, 1, "start with the header ods,list_size, then a line per practice", "the file is empty")
		return nil, ps.Err()
	case errors.As(err, &pe):
		add(pe.Line, pe.Column, "check the quoting, and that each line is ods,list_size", "invalid CSV: %v", pe.Err)
		return nil, ps.Err()
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if strings.Join(header, ",") != "ods,list_size" {
		add(1, 1, "the first line must be ods,list_size", "header is %q, want ods,list_size", strings.Join(header, ","))
		return nil, ps.Err()
	}
	var out []store.ListSize
	seen := map[string]int{}
	for len(ps) < maxListSizeProblems {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.As(err, &pe) {
			add(pe.Line, pe.Column, "check the quoting, and that each line is ods,list_size", "invalid CSV: %v", pe.Err)
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				continue // the reader is still at a line's start
			}
			return nil, ps.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		line, col := r.FieldPos(0)
		ods, v := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		ok := true
		if !odsPattern.MatchString(ods) {
			add(line, col, "write the practice's ODS code in capitals, e.g. Y01234", "%q is not an ODS code", ods)
			ok = false
		} else if prev, dup := seen[ods]; dup {
			add(line, col, "keep one line per practice", "practice %s is also on line %d", ods, prev)
			ok = false
		} else {
			seen[ods] = line
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			vl, vc := r.FieldPos(1)
			add(vl, vc, "write the number of registered patients, digits only", "list_size %q is not a whole number >= 0", v)
			ok = false
		}
		if ok {
			out = append(out, store.ListSize{Practice: ods, Month: month, Size: n})
		}
	}
	if len(ps) >= maxListSizeProblems {
		last := ps[len(ps)-1]
		ps = append(ps, diag.Problem{Pos: last.Pos, Msg: fmt.Sprintf("stopped after %d problems; there may be more", len(ps)),
			Fix: "fix these and import the file again"})
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func schemeDeclareCommand() *cli.Command {
	var configFile, actor, scheme, ods, name, from string
	var withdraw bool
	return &cli.Command{
		Name:    "declare",
		Summary: "record a practice's declaration for a scheme's gateway (or withdraw it)",
		Usage:   "declare --scheme ID --ods CODE --declaration NAME --from YYYY-MM [--withdraw] [--actor NAME] --config FILE",
		Help: `A scheme's gateway can require declarations (type: declaration), such as a
named clinical lead. This records that the practice made one, in force from
--from until withdrawn; --withdraw records its withdrawal from --from.
Reconciliation uses what is in force in each period. Recorded in the
audit log.

Example:
  steward-collector scheme declare --scheme example-icb-opioid-mos-2026-27 --ods Y01001 --declaration opioid_lead_named --from 2026-04 --config collector.yaml`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &configFile)
			actorFlag(fs, &actor)
			fs.StringVar(&scheme, "scheme", "", "the stored scheme's `id`")
			fs.StringVar(&ods, "ods", "", "the practice's ODS `code`")
			fs.StringVar(&name, "declaration", "", "the declaration's `name`, as the scheme's gateway gives it")
			fs.StringVar(&from, "from", "", "the first `month` (YYYY-MM) it applies to")
			fs.BoolVar(&withdraw, "withdraw", false, "record a withdrawal instead")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if err := requireFlags(need{"scheme", scheme}, need{"ods", ods}, need{"declaration", name}, need{"from", from}); err != nil {
				return err
			}
			if err := checkMonth("from", from); err != nil {
				return err
			}
			_, db, sc, err := openScheme(ctx, configFile, scheme)
			if err != nil {
				return err
			}
			defer db.Close()
			if !sc.HasDeclaration(name) {
				return cli.Usagef("--declaration %q: scheme %s's gateway asks for none of that name (it asks for: %s)",
					name, sc.ID, dash(strings.Join(sc.Declarations(), ", ")))
			}
			d := store.Declaration{Scheme: sc.ID, Practice: ods, Declaration: name, FromPeriod: from,
				Made: !withdraw, RecordedAt: time.Now(), RecordedBy: actorName(actor)}
			if err := db.RecordDeclaration(ctx, d); err != nil {
				return cli.WithCode(cli.ExitDatabase, err)
			}
			verb := "made"
			if !d.Made {
				verb = "withdrawn"
			}
			fmt.Fprintf(stdio.Out, "Declaration %s of %s under %s: %s from %s.\n", name, d.Practice, sc.ID, verb, from)
			return nil
		},
	}
}
