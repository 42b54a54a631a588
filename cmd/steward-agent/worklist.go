package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"html/template"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/internal/fsutil"
	"github.com/nhs-steward/steward/reporting/run"
	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
)

func worklistCommand() *cli.Command {
	var path, out, format, asOf string
	return &cli.Command{
		Name:    "worklist",
		Summary: "write the local list of patients due an opioid review (never uploaded)",
		Usage:   "worklist --out FILE [--format html|csv] [--config FILE] [--as-of DATE]",
		Help: `Lists, for clinicians at the practice, the patients the pack's worklist
selects — for MedSIP: long-term or high-dose opioid users, or opioid users
also prescribed a gabapentinoid or benzodiazepine, with no medication review
in 12 months. The list identifies patients by their local patient id, so it is
written only to the file you name (readable by you alone) and is never part of
anything the agent sends.

Examples:
  steward-agent worklist --out review-due.html
  steward-agent worklist --out review-due.csv --format csv`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &path)
			fs.StringVar(&out, "out", "", "file to write (required)")
			fs.StringVar(&format, "format", "", "html or csv (default: from the file's extension)")
			asOfFlag(fs, &asOf)
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if out == "" {
				return cli.Usagef("--out is required")
			}
			if format == "" {
				format = strings.TrimPrefix(strings.ToLower(filepath.Ext(out)), ".")
			}
			if format != "html" && format != "csv" {
				return cli.Usagef("--format must be html or csv")
			}
			e, err := loadEnv(path, stdio.Err)
			if err != nil {
				return err
			}
			a, err := parseAsOf(asOf)
			if err != nil {
				return err
			}
			rr, err := runner{e: e}.open()
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, err)
			}
			defer rr.Close()
			wl, err := rr.Worklist(ctx, run.Request{Practice: e.cfg.Practice, AsOf: a, Baseline: e.cfg.BaselineDate()})
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, err)
			}
			// Owner only, an existing file narrowed before any patient is
			// written to it.
			f, err := fsutil.CreatePrivate(out)
			if err != nil {
				return err
			}
			if format == "csv" {
				err = WriteWorklistCSV(f, wl)
			} else {
				err = WriteWorklistHTML(f, wl)
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(stdio.Out, "wrote %d patients to %s (patient-identifiable: keep it inside the practice)\n", len(wl.Rows), out)
			return nil
		},
	}
}

func cellText(v engine.Value) string {
	if !v.Valid {
		return ""
	}
	switch v.Type {
	case model.Bool:
		if v.Bool {
			return "yes"
		}
		return "no"
	case model.Date:
		return v.Date.Format(time.DateOnly)
	case model.Text:
		return v.Text
	}
	return strconv.FormatFloat(v.Number, 'f', -1, 64)
}

// WriteWorklistCSV writes the worklist as CSV with a header row.
func WriteWorklistCSV(w io.Writer, wl *run.Worklist) error {
	cw := csv.NewWriter(w)
	head := []string{"patient_id"}
	for _, c := range wl.Columns {
		head = append(head, c.Name)
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	for _, r := range wl.Rows {
		rec := []string{strconv.FormatInt(r.PatientID, 10)}
		for _, v := range r.Values {
			rec = append(rec, cellText(v))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

var worklistPage = template.Must(template.New("w").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3em .6em}
.warn{background:#fde8e8;border:1px solid #c00;padding:.6em;margin-bottom:1em}</style></head>
<body><div class="warn"><strong>Confidential: patient-identifiable.</strong> For clinicians at practice {{.Practice}} only. Steward never sends this list anywhere.</div>
<h1>{{.Title}}</h1><p>As of {{.AsOf}}. {{len .Rows}} patients.</p>
<table><thead><tr><th>patient id</th>{{range .Columns}}<th>{{.}}</th>{{end}}</tr></thead><tbody>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</tbody></table></body></html>
`))

// WriteWorklistHTML writes the worklist as a self-contained HTML page.
func WriteWorklistHTML(w io.Writer, wl *run.Worklist) error {
	data := struct {
		Title, Practice, AsOf string
		Columns               []string
		Rows                  [][]string
	}{Title: wl.Title, Practice: wl.Practice, AsOf: wl.AsOf.Format(time.DateOnly)}
	if data.Title == "" {
		data.Title = "Worklist"
	}
	for _, c := range wl.Columns {
		data.Columns = append(data.Columns, strings.ReplaceAll(c.Name, "_", " "))
	}
	for _, r := range wl.Rows {
		row := []string{strconv.FormatInt(r.PatientID, 10)}
		for _, v := range r.Values {
			row = append(row, cellText(v))
		}
		data.Rows = append(data.Rows, row)
	}
	return worklistPage.Execute(w, data)
}
