package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/config"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/reporting/schemes"
)

var periodPattern = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

func reconcileFlags(fs *flag.FlagSet) {
	configFlag(fs)
	actorFlag(fs)
	fs.String("scheme", "", "the stored scheme's `id`")
	fs.String("period", "", "the `month` to reconcile, YYYY-MM")
	fs.String("format", "table", "output `format`: table or csv (finance's export)")
	fs.Int("silent-days", 0, "list agents silent for more than `N` days (default: the configured heartbeat_silence_days)")
	fs.String("practice-inputs", "", "optional CSV `file` with columns ods,list_size,declarations (declarations separated by ';'): "+
		"registered list sizes and gateway declarations, which practices' submissions do not carry")
}

func reconcileCommand() *cli.Command {
	return &cli.Command{
		Name:    "reconcile",
		Summary: "reconcile a scheme's period against the practices' current submissions",
		Usage:   "reconcile --scheme ID --period YYYY-MM [--format table|csv] [--silent-days N] [--practice-inputs FILE] --config FILE",
		Help: `Builds each practice's figures from its current submission of the scheme's
pack as of the period's month end, applies the scheme (gateway, elements,
caps; docs/schemes.md) and prints, per practice, the gateway result, each
element's amount in GBP and the total payable; then the practices missing,
late or on the wrong pack, and enrolled agents silent for more than N days.
Amounts in parentheses are indicative (paid only in the final period).

--format csv writes finance's CSV instead (the same as 'export').
Every run is recorded in the audit log with its totals.

Example:
  steward-collector reconcile --scheme example-icb-opioid-mos-2026-27 --period 2027-03 --config collector.yaml`,
		Flags: reconcileFlags,
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			return runReconcile(ctx, fs, stdio, false)
		},
	}
}

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:    "export",
		Summary: "write finance's CSV for a scheme's period",
		Usage:   "export --scheme ID --period YYYY-MM --format csv [--practice-inputs FILE] --config FILE",
		Help: `The same as 'reconcile --format csv': one row per practice per element
(docs/schemes.md, "Finance CSV") on standard output. Recorded in the audit log.

Example:
  steward-collector export --scheme example-icb-opioid-mos-2026-27 --period 2027-03 --format csv --config collector.yaml > payments.csv`,
		Flags: func(fs *flag.FlagSet) {
			reconcileFlags(fs)
			fs.Lookup("format").DefValue = "csv"
			_ = fs.Set("format", "csv")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			return runReconcile(ctx, fs, stdio, true)
		},
	}
}

func runReconcile(ctx context.Context, fs *flag.FlagSet, stdio cli.IO, export bool) error {
	if err := requireFlags(fs, "scheme", "period"); err != nil {
		return err
	}
	id, period := fs.Lookup("scheme").Value.String(), fs.Lookup("period").Value.String()
	format := fs.Lookup("format").Value.String()
	switch {
	case export && format != "csv":
		return cli.Usagef("export writes csv only (use 'reconcile' for a table)")
	case format != "table" && format != "csv":
		return cli.Usagef("--format %q: want table or csv", format)
	}
	if !periodPattern.MatchString(period) {
		return cli.Usagef("--period %q: want a month, YYYY-MM", period)
	}
	var inputs map[string]practiceInput
	if path := fs.Lookup("practice-inputs").Value.String(); path != "" {
		var err error
		if inputs, err = readPracticeInputs(path); err != nil {
			return cli.WithCode(cli.ExitConfig, err)
		}
	}
	cfg, db, err := openStore(ctx, fs)
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := loadScheme(ctx, db, id)
	if err != nil {
		return err
	}
	if period < s.Periods.From || period > s.Periods.To {
		return cli.Usagef("--period %s is outside scheme %s's periods, %s to %s", period, s.ID, s.Periods.From, s.Periods.To)
	}
	figures, names, err := schemeFigures(ctx, db, s, period, inputs)
	if err != nil {
		return err
	}
	rec, err := schemes.Evaluate(s, period, figures)
	if err != nil {
		return err
	}
	for i := range rec.Practices {
		if pr := &rec.Practices[i]; pr.Name == "" {
			pr.Name = names[pr.ODS] // missing practices too, for finance
		}
	}

	action := "scheme.reconcile"
	if export {
		action = "scheme.export"
	}
	if err := auditReconcile(ctx, db, actorName(fs), action, format, rec); err != nil {
		return cli.WithCode(cli.ExitDatabase, err)
	}
	if format == "csv" {
		return schemes.WriteCSV(stdio.Out, rec)
	}
	silent, err := schemeSilent(ctx, db, cfg, s, fs.Lookup("silent-days").Value.(flag.Getter).Get().(int))
	if err != nil {
		return err
	}
	return writeReconciliation(stdio.Out, s, rec, silent)
}

// monthEnd returns the last day of period (YYYY-MM), YYYY-MM-DD.
func monthEnd(period string) string {
	t, _ := time.Parse("2006-01", period)
	return t.AddDate(0, 1, -1).Format(time.DateOnly)
}

// practiceInput is what the collector is told about a practice outside its
// submissions.
type practiceInput struct {
	listSize     *int64
	declarations []string
}

// readPracticeInputs reads a CSV with header ods,list_size,declarations.
func readPracticeInputs(path string) (map[string]practiceInput, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("practice inputs: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(io.LimitReader(f, 16<<20))
	r.FieldsPerRecord = 3
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("practice inputs %s: %w", path, err)
	}
	if strings.Join(header, ",") != "ods,list_size,declarations" {
		return nil, fmt.Errorf("practice inputs %s: header is %q, want ods,list_size,declarations", path, strings.Join(header, ","))
	}
	out := map[string]practiceInput{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("practice inputs %s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		ods := strings.TrimSpace(rec[0])
		if !odsPattern.MatchString(ods) {
			return nil, fmt.Errorf("practice inputs %s:%d: %q is not an ODS code", path, line, ods)
		}
		if _, dup := out[ods]; dup {
			return nil, fmt.Errorf("practice inputs %s:%d: practice %s given twice", path, line, ods)
		}
		var in practiceInput
		if v := strings.TrimSpace(rec[1]); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("practice inputs %s:%d: list_size %q is not a whole number >= 0", path, line, v)
			}
			in.listSize = &n
		}
		for _, d := range strings.Split(rec[2], ";") {
			if d = strings.TrimSpace(d); d != "" {
				in.declarations = append(in.declarations, d)
			}
		}
		out[ods] = in
	}
}

// schemeFigures builds the figures of every practice with a current
// submission of the scheme's pack as of the period's month end, and returns
// the names of all practices by ODS code.
func schemeFigures(ctx context.Context, db *store.DB, s *schemes.Scheme, period string, inputs map[string]practiceInput) ([]schemes.PracticeFigures, map[string]string, error) {
	filter := store.SubmissionFilter{Pack: s.Pack.ID, AsOf: monthEnd(period)}
	if s.AllPractices {
		filter.ICB = s.ICB
	}
	subs, err := db.CurrentSubmissions(ctx, filter)
	if err != nil {
		return nil, nil, cli.WithCode(cli.ExitDatabase, err)
	}
	practices, err := db.Practices(ctx, "")
	if err != nil {
		return nil, nil, cli.WithCode(cli.ExitDatabase, err)
	}
	names := make(map[string]string, len(practices))
	for _, p := range practices {
		names[p.ODS] = p.Name
	}
	figures := make([]schemes.PracticeFigures, 0, len(subs))
	for _, sub := range subs {
		full, err := db.Submission(ctx, sub.Practice, sub.IdempotencyKey)
		if err != nil {
			return nil, nil, cli.WithCode(cli.ExitDatabase, err)
		}
		// Stored bodies were validated on receipt; one that no longer
		// decodes stops the run rather than silently going unpaid.
		doc, err := results.Decode(bytes.NewReader(full.Body))
		if err != nil {
			return nil, nil, fmt.Errorf("submission %s from %s: %w", sub.IdempotencyKey, sub.Practice, err)
		}
		if doc.Practice != sub.Practice {
			return nil, nil, fmt.Errorf("submission %s from %s holds figures for %s", sub.IdempotencyKey, sub.Practice, doc.Practice)
		}
		f := schemes.FiguresFromDocument(doc, sub.IdempotencyKey, sub.ReceivedAt)
		f.Name = names[sub.Practice]
		if in, ok := inputs[sub.Practice]; ok {
			f.ListSize, f.Declarations = in.listSize, in.declarations
		}
		figures = append(figures, f)
	}
	return figures, names, nil
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

func auditReconcile(ctx context.Context, db *store.DB, actor, action, format string, rec *schemes.Reconciliation) error {
	elements := make(map[string]int64, len(rec.Summary.Elements))
	for _, e := range rec.Summary.Elements {
		elements[e.ID] = e.PayablePence
	}
	after, err := json.Marshal(map[string]any{
		"scheme": rec.Scheme, "period": rec.Period, "format": format, "final": rec.Final,
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
	head := []string{"ODS", "NAME", "GATEWAY"}
	for _, e := range s.Elements {
		head = append(head, e.ID+" £")
	}
	head = append(head, "TOTAL £", "")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, pr := range rec.Practices {
		row := []string{pr.ODS, dash(pr.Name), gatewayText(pr)}
		for _, er := range pr.Elements {
			row = append(row, amountText(er))
		}
		row = append(row, schemes.FormatPence(pr.TotalPence), "")
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	total := []string{"TOTAL", "", ""}
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
