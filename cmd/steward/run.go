package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/nhs-steward/steward/internal/redact"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/reporting/run"
)

// paramFlag collects repeated --param name=value flags.
type paramFlag map[string]float64

func (p paramFlag) String() string { return "" }

func (p paramFlag) Set(s string) error {
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want name=value, e.g. high_dose_mg_per_day=90")
	}
	v, err := strconv.ParseFloat(val, 64)
	if err != nil {
		return fmt.Errorf("%s: %q is not a number", name, val)
	}
	p[name] = v
	return nil
}

func parseDate(flagName, s string, required bool) (time.Time, error) {
	if s == "" {
		if required {
			return time.Time{}, cli.Usagef("--%s is required (a month end, YYYY-MM-DD)", flagName)
		}
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, cli.Usagef("--%s %q is not a date (YYYY-MM-DD)", flagName, s)
	}
	return t, nil
}

func runCommand() *cli.Command {
	var (
		db, prof, pack, practice, asOf, baseline, format string
		unprotected                                      bool
		timeout                                          time.Duration
		params                                           = paramFlag{}
		profParams                                       = profileParams{}
	)
	return &cli.Command{
		Name:    "run",
		Summary: "run a pack against a practice database and print its results document",
		Usage:   "run --db URL [--profile P [--profile-param NAME=VALUE]] --pack PATH|NAME --practice ODS --as-of DATE [--baseline DATE]",
		Help: `Evaluates every search of the pack in the database (read-only) as of a month
end and prints the results document (steward.results/v1) as JSON: the same
document the agent would send, disclosure control applied.

--db takes sqlite:PATH, postgres://... or sqlserver://...; --profile is the
database's layout: canonical (Steward's schema), tpp (SystmOne's tables), emis (EMIS
Web's tables) or a profile file written for another layout (docs/layouts.md), with
each of its parameters given as --profile-param NAME=VALUE. A layout that cannot
supply issue quantities (emis) gets a warning naming the measures it cannot compute.

Examples:
  steward run --db sqlite:practice.db --pack medsip --practice Y01234 \
      --as-of 2025-03-31 --baseline 2024-03-31
  steward run --db sqlite:practice.db --pack medsip --practice Y01234 \
      --as-of 2025-03-31 --baseline 2024-03-31 --format table
  steward run --db sqlserver://reader@srv?database=SRE --profile tpp \
      --profile-param organisation_id=12345 --pack medsip --practice Y01234 --as-of 2025-03-31
  steward run --db sqlite:extract.db --profile ours.yaml --pack medsip --practice Y01234 --as-of 2025-03-31`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&db, "db", "", "practice database: sqlite:PATH, postgres://..., sqlserver://...")
			profileFlags(fs, &prof, profParams)
			fs.StringVar(&pack, "pack", "medsip", "pack: a built-in name or a path")
			fs.StringVar(&practice, "practice", "", "the practice's ODS code")
			fs.StringVar(&asOf, "as-of", "", "as-of month end, YYYY-MM-DD")
			fs.StringVar(&baseline, "baseline", "", "baseline month end, YYYY-MM-DD")
			fs.Var(params, "param", "override a pack parameter, name=value (repeatable)")
			fs.StringVar(&format, "format", "json", "json (the results document) or table")
			fs.BoolVar(&unprotected, "unprotected", false, "skip disclosure control (exact strata; for local analysis only)")
			fs.DurationVar(&timeout, "timeout", 30*time.Minute, "give up after this long")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if db == "" || practice == "" {
				return cli.Usagef("--db and --practice are required")
			}
			a, err := parseDate("as-of", asOf, true)
			if err != nil {
				return err
			}
			b, err := parseDate("baseline", baseline, false)
			if err != nil {
				return err
			}
			if format != "json" && format != "table" {
				return cli.Usagef("--format must be json or table")
			}
			p, err := run.LoadPack(pack)
			if err != nil {
				return cli.WithCode(cli.ExitConfig, err)
			}
			pr, err := loadProfile(prof, profParams)
			if err != nil {
				return err
			}
			r, err := run.OpenWith(db, pr, p, "steward")
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, redact.Secrets(err, db))
			}
			defer r.Close()
			if ids := r.Uncomputable(); len(ids) > 0 {
				fmt.Fprintf(stdio.Err, "warning: profile %s has no issue quantities: %s cannot be computed on this layout; their figures read as if every quantity were unknown and must not be used\n",
					pr.Name, strings.Join(ids, ", "))
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			doc, err := r.Document(ctx, run.Request{Practice: practice, AsOf: a, Baseline: b, Params: params, Unprotected: unprotected})
			if err != nil {
				if errors.Is(err, run.ErrBadRequest) {
					return cli.Usagef("%v", err)
				}
				// A database's message may quote a value from a patient's
				// record: the same protection as the agent's.
				return cli.WithCode(cli.ExitDatabase, redact.Query(err, db))
			}
			if format == "table" {
				return writeTable(stdio.Out, doc)
			}
			enc := json.NewEncoder(stdio.Out)
			enc.SetIndent("", "  ")
			return enc.Encode(doc)
		},
	}
}

// writeTable prints the measures of a document for people.
func writeTable(w io.Writer, doc *results.Document) error {
	fmt.Fprintf(w, "Practice %s, pack %s %s, as of %s", doc.Practice, doc.Pack.ID, doc.Pack.Version, doc.AsOf)
	if doc.Baseline != "" {
		fmt.Fprintf(w, ", baseline %s", doc.Baseline)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tvalue\tnumerator\tdenominator\tdescription")
	num := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatFloat(*p, 'f', -1, 64)
	}
	for _, m := range doc.Measures {
		n, d := "", ""
		if m.Kind == results.KindRatio {
			n, d = num(m.Numerator), num(m.Denominator)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.ID, num(m.Value), n, d, m.Title)
	}
	return tw.Flush()
}
