package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/searches/reference"
)

// referenceCommand is "steward reference": reference data the searches use.
func referenceCommand() *cli.Command {
	return &cli.Command{
		Name:    "reference",
		Summary: "build and check reference data (OME per opioid product)",
		Help: `Reference data are tables the searches read, built from published sources
and committed in searches/reference. Run from the repository root.`,
		Sub: []*cli.Command{referenceBuildCommand()},
	}
}

func referenceBuildCommand() *cli.Command {
	def := reference.DefaultInputs(".")
	var in reference.Inputs
	var out, report string
	return &cli.Command{
		Name:    "build",
		Summary: "build the OME reference table from its sources and print coverage",
		Usage:   "build [--sources DIR] [--codelists DIR] [--factors FILE] [--out FILE] [--report FILE]",
		Help: `Builds mg oral morphine equivalent (OME) per unit for every in-scope opioid
(dm+d VMPs and AMPs in the oral and transdermal opioid codelists, BNF 0407
except 040704). In order: OpenPrescribing's per-VMP table (ome_vmp.csv),
AMPs through their VMP's BNF code, else the strength in the dm+d name times
the factor set. Products whose OME cannot be derived get no value; they are
listed in the report with the reason.

The defaults are the repository's copies; run from the repository root:
  steward reference build
  git diff searches/reference      review what changed

A changed factor set is a new version: copy the factor file under a new
name (factors-VERSION.csv), change factor_set in every row, and build with
--factors; the table is written as ome-VERSION.csv.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&in.SourcesDir, "sources", def.SourcesDir, "folder holding ome_vmp.csv")
			fs.StringVar(&in.CodelistsDir, "codelists", def.CodelistsDir, "folder holding the opioid codelists")
			fs.StringVar(&in.FactorsFile, "factors", def.FactorsFile, "factor set file")
			fs.StringVar(&out, "out", "", "table file to write; its name must carry the factor set (default searches/reference/ome-FACTORSET.csv)")
			fs.StringVar(&report, "report", "", "file to list the products without an OME in (default searches/reference/ome-FACTORSET-underivable.csv)")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if fs.NArg() > 0 {
				return cli.Usagef("unexpected argument %q", fs.Arg(0))
			}
			b, err := reference.BuildTable(in)
			if err != nil {
				return cli.WithCode(cli.ExitConfig, fmt.Errorf("build reference table: %w", err))
			}
			version := "ome-" + b.FactorSet
			if out == "" {
				out = filepath.Join("searches", "reference", version+".csv")
			}
			if report == "" {
				report = filepath.Join("searches", "reference", version+"-underivable.csv")
			}
			if !strings.Contains(filepath.Base(out), b.FactorSet) {
				return cli.Usagef("--out %s does not name the factor set %s (the table's version is in its file name, e.g. %s.csv)", out, b.FactorSet, version)
			}
			if err := writeFile(out, b.WriteTable); err != nil {
				return err
			}
			if err := writeFile(report, b.WriteReport); err != nil {
				return err
			}
			printCoverage(stdio.Out, b, out, report)
			return nil
		},
	}
}

func printCoverage(w io.Writer, b *reference.Build, out, report string) {
	c := b.Coverage()
	fmt.Fprintf(w, "factor set %s\n", b.FactorSet)
	fmt.Fprintf(w, "in-scope codes  %5d  (VMP %d, AMP %d)\n", c.InScope, c.ByType["VMP"][1], c.ByType["AMP"][1])
	fmt.Fprintf(w, "with OME        %5d  (%.2f%%)\n", c.WithOME, c.Percent())
	for _, m := range reference.Methods {
		if m == reference.MethodNone {
			continue
		}
		fmt.Fprintf(w, "  %-17s %5d\n", m, c.ByMethod[m])
	}
	fmt.Fprintf(w, "without OME     %5d\n", c.Without)
	for _, r := range b.Underivable() {
		fmt.Fprintf(w, "  %s %s %q: %s\n", r.DMDType, r.DMDCode, r.Name, r.Basis)
	}
	if len(b.Notes) > 0 {
		fmt.Fprintln(w, "notes:")
		for _, n := range b.Notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	fmt.Fprintf(w, "wrote %s and %s\n", out, report)
}

// writeFile writes a file through a temporary file in the same folder, so a
// failed build never leaves a half-written table.
func writeFile(path string, write func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
