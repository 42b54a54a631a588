package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/searches/bundle"
	"github.com/nhs-steward/steward/searches/conformance"
	"github.com/nhs-steward/steward/searches/fixture"
)

// A release can change what practices are paid, so `bundle`, `sign` and
// `publish` refuse a pack that fails lint or any of its own fixture cases,
// run on the reference evaluator and on SQLite (both layouts): the gate.
// There is no flag to skip it.

// ErrGate marks a release refused by the gate.
var ErrGate = errors.New("release refused")

// gateEngines are the engines every fixture case of a release runs on.
func gateEngines() map[string]fixture.Factory {
	out := map[string]fixture.Factory{"eval": conformance.Eval()}
	for _, l := range conformance.Layouts {
		out["sqlite/"+string(l)] = conformance.SQLite(l)
	}
	return out
}

// releaseGate lints the pack in packDir and runs every fixture file found
// under it. It prints one line when all is well, every problem and failed
// case otherwise, and then returns an ExitConfig error wrapping ErrGate.
func releaseGate(ctx context.Context, packDir string, stdio cli.IO) error {
	var lint bytes.Buffer
	if err := lintPaths([]string{packDir}, cli.IO{Out: &lint, Err: &lint}); err != nil {
		for _, line := range strings.Split(strings.TrimRight(lint.String(), "\n"), "\n") {
			if !strings.Contains(line, ": ok: ") && !strings.Contains(line, ": skipped: ") {
				fmt.Fprintln(stdio.Out, line)
			}
		}
		return cli.WithCode(cli.ExitConfig, fmt.Errorf("%w: the pack fails lint (%v): fix it, then build the release again", ErrGate, err))
	}
	// A pack's own searches must load on their own too, as the collector
	// and the agent will load them.
	if err := bundle.Lint(packDir); err != nil {
		fmt.Fprintln(stdio.Out, err)
		return cli.WithCode(cli.ExitConfig, fmt.Errorf("%w: the pack fails lint: fix it, then build the release again", ErrGate))
	}
	files, err := fixtureFiles([]string{packDir})
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return cli.WithCode(cli.ExitConfig, fmt.Errorf("%w: the pack has no fixture tests (*.test.yaml in %s): a release can change what practices are paid, so add cases that pin each measure (docs/search-language.md, fixtures)", ErrGate, packDir))
	}
	var out bytes.Buffer
	err = runFixtures(ctx, files, gateEngines(), cli.IO{Out: &out, Err: &out})
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	summary := lines[len(lines)-1]
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for _, line := range lines {
			if !strings.HasPrefix(line, "PASS ") {
				fmt.Fprintln(stdio.Out, line)
			}
		}
		return cli.WithCode(cli.ExitConfig, fmt.Errorf("%w: the pack's fixture tests fail (%v): fix the searches or, if the change is meant, the expected figures, then build the release again", ErrGate, err))
	}
	fmt.Fprintf(stdio.Out, "gate: lint passes; %s\n", summary)
	return nil
}

// extracted is a bundle unpacked into a temporary folder.
type extracted struct {
	root     string
	manifest *bundle.Manifest
	release  *bundle.Release
}

func (x *extracted) packDir() string { return x.manifest.PackDirIn(x.root) }

// extract unpacks a bundle (checking it against its manifest) into a new
// temporary folder, removed by cleanup.
func extract(tgz []byte) (_ *extracted, cleanup func(), err error) {
	tmp, err := os.MkdirTemp("", "steward-release-")
	if err != nil {
		return nil, func() {}, err
	}
	cleanup = func() { os.RemoveAll(tmp) }
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	x := &extracted{root: filepath.Join(tmp, "b")}
	if err := bundle.Extract(tgz, x.root); err != nil {
		return nil, cleanup, err
	}
	if x.manifest, err = bundle.Verify(x.root); err != nil {
		return nil, cleanup, err
	}
	if err := bundle.CheckPack(x.packDir(), x.manifest); err != nil {
		return nil, cleanup, err
	}
	if x.release, err = bundle.ReadRelease(x.root); err != nil {
		return nil, cleanup, err
	}
	return x, cleanup, nil
}

// printRelease prints a release's notes and summary of changes.
func printRelease(stdio cli.IO, r *bundle.Release) {
	if r == nil {
		fmt.Fprintln(stdio.Out, "release notes: none (built before bundles carried them)")
		return
	}
	fmt.Fprintf(stdio.Out, "release notes for %s %s:\n", r.Pack, r.Version)
	for _, line := range strings.Split(strings.TrimRight(r.Notes, "\n"), "\n") {
		fmt.Fprintf(stdio.Out, "  %s\n", line)
	}
	if r.Previous == "" {
		fmt.Fprintln(stdio.Out, "changes: first release of the pack (nothing to compare with)")
		return
	}
	fmt.Fprintf(stdio.Out, "changes since %s:\n", r.Previous)
	for _, line := range r.Changes.Lines() {
		fmt.Fprintf(stdio.Out, "  %s\n", line)
	}
}

// splitList splits a comma-separated flag value, dropping empty parts.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
