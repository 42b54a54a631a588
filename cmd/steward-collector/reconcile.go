package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/internal/fsutil"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/collector/config"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/schemes"
)

var periodPattern = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

// checkMonth refuses a --flag value that is not a month, YYYY-MM.
func checkMonth(flag, value string) error {
	if !periodPattern.MatchString(value) {
		return cli.Usagef("--%s %q: want a month, YYYY-MM", flag, value)
	}
	return nil
}

// reconcileOptions are the flags of reconcile and export.
type reconcileOptions struct {
	config, actor, scheme, period, format, out, manifest string
	silentDays                                           int
	dryRun                                               bool
}

// flags declares the options, with format the default --format.
func (o *reconcileOptions) flags(fs *flag.FlagSet, format string) {
	configFlag(fs, &o.config)
	actorFlag(fs, &o.actor)
	fs.StringVar(&o.scheme, "scheme", "", "the stored scheme's `id`")
	fs.StringVar(&o.period, "period", "", "the `month` to reconcile, YYYY-MM")
	fs.StringVar(&o.format, "format", format, "output `format`: table or csv (finance's export)")
	fs.IntVar(&o.silentDays, "silent-days", 0, "list agents silent for more than `N` days (default: the configured heartbeat_silence_days)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "show the reconciliation without storing it or moving any claim")
	fs.StringVar(&o.out, "out", "", "csv: write the CSV to this `file` (and its manifest beside it) instead of standard output")
	fs.StringVar(&o.manifest, "manifest", "", "csv: write the manifest (row count, payable and indicative totals, SHA-256) to this `file` (default with --out: FILE.manifest.json)")
}

func reconcileCommand() *cli.Command {
	var o reconcileOptions
	return &cli.Command{
		Name:    "reconcile",
		Summary: "calculate a scheme's period from the practices' current submissions",
		Usage:   "reconcile --scheme ID --period YYYY-MM [--format table|csv] [--silent-days N] [--dry-run] --config FILE",
		Help: `Builds each practice's figures from its current submission of the scheme's
pack as of the period's month end, with the list sizes ('practice
list-size') and declarations ('scheme declare') in force, applies the
scheme (gateway, elements, caps; docs/schemes.md) and stores the result.
Open claims become calculated; a declared or approved claim whose figures
changed since the last calculation goes back to calculated, with the
changes as the reason (a paid claim is never moved: the command warns and
exits 1). Then it prints, per practice, the claim's state, the gateway
result, each element's amount in GBP and the total payable; then the
practices missing, late or on the wrong pack, and enrolled agents silent
for more than N days. Amounts in parentheses are indicative (paid only in
the final period).

--format csv writes finance's CSV instead (the same as 'export'), with its
manifest (--out, --manifest).
--dry-run shows the result without storing anything; it is the only way to
calculate a retired scheme's period.
Every run is recorded in the audit log with its totals; 'claim' moves
claims on (declare, approve, pay).

Example:
  steward-collector reconcile --scheme example-icb-opioid-mos-2026-27 --period 2027-03 --config collector.yaml`,
		Flags: func(fs *flag.FlagSet) { o.flags(fs, "table") },
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			return runReconcile(ctx, &o, stdio, false)
		},
	}
}

func exportCommand() *cli.Command {
	var o reconcileOptions
	return &cli.Command{
		Name:    "export",
		Summary: "write finance's CSV for a scheme's period",
		Usage:   "export --scheme ID --period YYYY-MM --format csv --config FILE",
		Help: `The same as 'reconcile --format csv': recalculates the period (so the
export never shows figures older than the store's), then writes one row
per practice per element (docs/schemes.md, "Finance CSV") with each
claim's state. amount_pence and amount_gbp hold only what is payable this
period, so their sum is exactly what to pay; indicative_pence and
indicative_gbp hold what is not payable yet.

With --out FILE the CSV goes to FILE and its manifest, a small JSON file
with the row count, the payable and indicative totals and the CSV's
SHA-256, to FILE.manifest.json (or --manifest). Without --out the CSV goes
to standard output, the manifest to --manifest if given, and the totals to
standard error. Recorded in the audit log.

Examples:
  steward-collector export --scheme example-icb-opioid-mos-2026-27 --period 2027-03 --out payments-2027-03.csv --config collector.yaml
  steward-collector export --scheme example-icb-opioid-mos-2026-27 --period 2027-03 --config collector.yaml > payments.csv`,
		Flags: func(fs *flag.FlagSet) { o.flags(fs, "csv") },
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			return runReconcile(ctx, &o, stdio, true)
		},
	}
}

func runReconcile(ctx context.Context, o *reconcileOptions, stdio cli.IO, export bool) error {
	if err := requireFlags(need{"scheme", o.scheme}, need{"period", o.period}); err != nil {
		return err
	}
	period, format, dryRun := o.period, o.format, o.dryRun
	switch {
	case export && format != "csv":
		return cli.Usagef("export writes csv only (use 'reconcile' for a table)")
	case format != "table" && format != "csv":
		return cli.Usagef("--format %q: want table or csv", format)
	}
	if err := checkMonth("period", period); err != nil {
		return err
	}
	cfg, db, s, err := openScheme(ctx, o.config, o.scheme)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := claims.CheckPeriod(s, period); err != nil {
		return cli.Usagef("--period: %v", err)
	}
	if st, err := db.Scheme(ctx, s.ID); err != nil {
		return cli.WithCode(cli.ExitDatabase, err)
	} else if st.Retired() && !dryRun {
		return fmt.Errorf("scheme %s was retired on %s (%s): its calculations stay as they were ('claim list' shows them); --dry-run calculates without storing",
			s.ID, st.RetiredAt.UTC().Format(time.DateOnly), st.RetiredReason)
	}
	svc := &claims.Service{DB: db}
	actor := actorName(o.actor)
	var out *claims.Outcome
	if dryRun {
		rec, err := svc.Evaluate(ctx, s, period)
		if err != nil {
			return cli.WithCode(cli.ExitDatabase, err)
		}
		out = &claims.Outcome{Rec: rec}
	} else if out, err = svc.Calculate(ctx, s, period, actor); err != nil {
		return cli.WithCode(cli.ExitDatabase, err)
	}
	rec := out.Rec

	action := "scheme.reconcile"
	if export {
		action = "scheme.export"
	}
	if err := auditReconcile(ctx, db, actor, action, format, dryRun, rec); err != nil {
		return cli.WithCode(cli.ExitDatabase, err)
	}
	if format == "csv" {
		if err := writeExport(o.out, o.manifest, stdio, rec); err != nil {
			return err
		}
		return out.PaidChanged
	}
	silent, err := schemeSilent(ctx, db, cfg, s, o.silentDays)
	if err != nil {
		return err
	}
	if err := writeReconciliation(stdio.Out, s, rec, silent); err != nil {
		return err
	}
	writeOutcome(stdio.Out, out, dryRun)
	if out.PaidChanged != nil {
		return fmt.Errorf("%w: these claims stay paid; settle the difference outside the scheme", out.PaidChanged)
	}
	return nil
}

// writeExport writes finance's CSV of rec and its manifest where --out
// (outPath) and --manifest (manifestPath) say. A file is written whole or
// not at all.
func writeExport(outPath, manifestPath string, stdio cli.IO, rec *schemes.Reconciliation) error {
	if manifestPath == "" && outPath != "" {
		manifestPath = outPath + ".manifest.json"
	}
	var csvBuf bytes.Buffer
	m, err := schemes.WriteCSV(&csvBuf, rec)
	if err != nil {
		return err
	}
	var mBuf bytes.Buffer
	if err := schemes.WriteManifest(&mBuf, m); err != nil {
		return err
	}
	if outPath == "" {
		if _, err := stdio.Out.Write(csvBuf.Bytes()); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	} else if err := fsutil.WriteFileAtomic(outPath, csvBuf.Bytes(), 0o640); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	if manifestPath != "" {
		if err := fsutil.WriteFileAtomic(manifestPath, mBuf.Bytes(), 0o640); err != nil {
			return fmt.Errorf("write manifest: %w", err)
		}
	}
	where := "standard output"
	if outPath != "" {
		where = outPath
	}
	fmt.Fprintf(stdio.Err, "Finance CSV of %s %s: %d rows, payable £%s, indicative £%s (not payable), sha256 %s, to %s",
		m.Scheme, m.Period, m.Rows, m.PayableGBP, m.IndicativeGBP, m.SHA256, where)
	if manifestPath != "" {
		fmt.Fprintf(stdio.Err, "; manifest %s", manifestPath)
	}
	fmt.Fprintln(stdio.Err, ".")
	return nil
}

// writeOutcome says what the calculation stored and which claims moved.
func writeOutcome(w io.Writer, out *claims.Outcome, dryRun bool) {
	switch {
	case dryRun:
		fmt.Fprintln(w, "\nDry run: nothing stored, no claim moved.")
		return
	case out.First:
		fmt.Fprintf(w, "\nCalculated (version %d).\n", out.Version)
	case len(out.Changes) == 0 && len(out.Events) == 0:
		fmt.Fprintf(w, "\nNo change since the last calculation (version %d).\n", out.Version)
	default:
		fmt.Fprintf(w, "\nRecalculated (version %d): %d figure change(s).\n", out.Version, len(out.Changes))
	}
	moved := map[string]int{}
	var back, closed []string
	for _, e := range out.Events {
		moved[string(e.From)+" -> "+string(e.To)]++
		switch {
		case e.To == schemes.Closed || e.From == schemes.Closed:
			closed = append(closed, fmt.Sprintf("  %s %s -> %s: %s", e.Practice, e.From, e.To, e.Reason))
		case e.From != schemes.Open:
			back = append(back, fmt.Sprintf("  %s %s -> %s: %s", e.Practice, e.From, e.To, e.Reason))
		}
	}
	keys := make([]string, 0, len(moved))
	for k := range moved {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "Claims moved %s: %d\n", k, moved[k])
	}
	if len(back) > 0 {
		fmt.Fprintf(w, "Sent back to calculated because figures changed:\n%s\n", strings.Join(back, "\n"))
	}
	if len(closed) > 0 {
		fmt.Fprintf(w, "Closed with nothing payable (no sign-off needed), or reopened:\n%s\n", strings.Join(closed, "\n"))
	}
}

// schemeSilent lists the scheme's enrolled practices whose agents have been
// silent for more than days (0: the configured default).
func schemeSilent(ctx context.Context, db *store.DB, cfg *config.Config, s *schemes.Scheme, days int) ([]collector.SilentPractice, error) {
	if days <= 0 {
		days = cfg.HeartbeatSilenceDays
	}
	icb := ""
	if s.AllPractices {
		icb = s.ICB
	}
	silent, err := db.SilentPractices(ctx, icb, time.Duration(days)*24*time.Hour, time.Now())
	if err != nil {
		return nil, cli.WithCode(cli.ExitDatabase, err)
	}
	if !s.AllPractices {
		silent = slices.DeleteFunc(silent, func(sp collector.SilentPractice) bool {
			_, found := slices.BinarySearch(s.Practices, sp.Practice.ODS)
			return !found
		})
	}
	return silent, nil
}

func auditReconcile(ctx context.Context, db *store.DB, actor, action, format string, dryRun bool, rec *schemes.Reconciliation) error {
	elements := make(map[string]int64, len(rec.Summary.Elements))
	for _, e := range rec.Summary.Elements {
		elements[e.ID] = e.PayablePence
	}
	after, err := json.Marshal(map[string]any{
		"scheme": rec.Scheme, "period": rec.Period, "format": format, "dry_run": dryRun, "final": rec.Final,
		"payable_pence": rec.Summary.PayablePence, "indicative_pence": rec.Summary.IndicativePence,
		"enrolled": rec.Summary.Enrolled, "with_figures": rec.Summary.WithFigures, "missing": rec.Summary.Missing,
		"late": rec.Summary.Late, "gateway_failed": rec.Summary.GatewayFailed, "element_payable_pence": elements,
	})
	if err != nil {
		return err
	}
	_, err = db.Audit().Append(ctx, collector.AuditEntry{Actor: actor, Action: action,
		Subject: "scheme:" + rec.Scheme + "/" + rec.Period, After: string(after)})
	return err
}

func writeReconciliation(w io.Writer, s *schemes.Scheme, rec *schemes.Reconciliation, silent []collector.SilentPractice) error {
	final := "no: elements paid at the final achievement date are indicative, shown (in parentheses)"
	if rec.Final {
		final = "yes: every element is payable"
	}
	fmt.Fprintf(w, "Scheme %s: %s\nPeriod %s, figures as of %s, deadline %s\nFinal period: %s\n\n",
		rec.Scheme, rec.Title, rec.Period, rec.AsOf, rec.Deadline.UTC().Format("2006-01-02 15:04 UTC"), final)

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	head := []string{"ODS", "NAME", "STATE", "GATEWAY"}
	for _, e := range s.Elements {
		head = append(head, e.ID+" £")
	}
	head = append(head, "TOTAL £", "")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, pr := range rec.Practices {
		row := []string{pr.ODS, dash(pr.Name), string(pr.State), gatewayText(pr)}
		for _, er := range pr.Elements {
			row = append(row, amountText(er))
		}
		row = append(row, schemes.FormatPence(pr.TotalPence), "")
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	total := []string{"TOTAL", "", "", ""}
	for _, e := range rec.Summary.Elements {
		total = append(total, schemes.FormatPence(e.PayablePence))
	}
	total = append(total, schemes.FormatPence(rec.Summary.PayablePence), "")
	fmt.Fprintln(tw, strings.Join(total, "\t"))
	if err := tw.Flush(); err != nil {
		return err
	}
	if rec.Summary.IndicativePence > 0 {
		fmt.Fprintf(w, "Indicative (not payable this period): £%s\n", schemes.FormatPence(rec.Summary.IndicativePence))
	}

	var notes []string
	for _, pr := range rec.Practices {
		if pr.Missing {
			continue
		}
		for _, c := range pr.Gateway.Checks {
			if !c.Pass {
				notes = append(notes, fmt.Sprintf("  %s gateway %s: %s", pr.ODS, c.ID, c.Reason))
			}
		}
		for _, er := range pr.Elements {
			if er.Note != "" {
				notes = append(notes, fmt.Sprintf("  %s %s: %s", pr.ODS, er.ID, er.Note))
			}
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nNotes:\n%s\n", strings.Join(notes, "\n"))
	}
	fmt.Fprintln(w)
	list := func(title string, ods []string) {
		fmt.Fprintf(w, "%s (%d): %s\n", title, len(ods), dash(strings.Join(ods, " ")))
	}
	list("Missing: no figures", rec.Missing)
	list("Late", rec.Late)
	list("Wrong pack", rec.WrongPack)
	list("Not enrolled in the scheme (ignored)", rec.NotEnrolled)
	fmt.Fprintf(w, "Silent agents (%d):", len(silent))
	if len(silent) == 0 {
		fmt.Fprintln(w, " -")
		return nil
	}
	fmt.Fprintln(w)
	for _, sp := range silent {
		fmt.Fprintf(w, "  %s %s, last heartbeat %s\n", sp.Practice.ODS, sp.Practice.Name, when(sp.LastHeartbeat))
	}
	return nil
}

func gatewayText(pr schemes.PracticeResult) string {
	switch {
	case pr.Missing:
		return "missing"
	case pr.Gateway.Pass:
		return "pass"
	}
	return "fail: " + strings.Join(pr.Gateway.Failed(), ",")
}

func amountText(er schemes.ElementResult) string {
	if !er.Payable {
		return "(" + schemes.FormatPence(er.AmountPence) + ")"
	}
	return schemes.FormatPence(er.AmountPence)
}
