package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nhs-steward/steward/agent/bundle"
	"github.com/nhs-steward/steward/agent/lock"
	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/results"
	sbundle "github.com/nhs-steward/steward/searches/bundle"
	"github.com/nhs-steward/steward/searches/lang"
	"github.com/nhs-steward/steward/searches/model"
)

// A practice manager's side of a release: review what a waiting version
// changes, preview it on the practice's data, approve it. docs/install-
// practice.md walks through it.

// hint is a command line for the practice manager to run next, naming the
// config file so that it can be pasted as it is.
func hint(path, args string) string {
	return "steward-agent " + args + " --config " + quoteArg(path)
}

func quoteArg(s string) string {
	if strings.ContainsAny(s, " \t\"'") {
		return strconv.Quote(s)
	}
	return s
}

// needUpdater returns the bundle updater, or an error saying the agent
// runs its built-in pack.
func needUpdater(e *env) (*bundle.Updater, error) {
	u, err := e.updater()
	if err != nil {
		return nil, cli.WithCode(cli.ExitConfig, err)
	}
	if u == nil {
		return nil, cli.WithCode(cli.ExitConfig, errors.New("no bundle.trusted_root in the config: this agent runs its built-in pack and takes no search bundles"))
	}
	return u, nil
}

// heldPack loads a search bundle held here (waiting for approval, current
// or previous) and its release notes, holding the data folder's lock while
// it reads the files: the pack is in memory afterwards, so the lock is
// released before any database is read.
func heldPack(ctx context.Context, e *env, u *bundle.Updater, version string, wait time.Duration) (*model.Pack, *sbundle.Release, error) {
	l, err := lock.Acquire(ctx, e.cfg.DataDir, wait)
	if err != nil {
		return nil, nil, err
	}
	defer l.Release()
	dir, err := u.Open(version)
	if err != nil {
		return nil, nil, err
	}
	p, err := lang.LoadPack(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("search bundle %s: %w", version, err)
	}
	rel, err := u.Release(version)
	if err != nil {
		return nil, nil, err
	}
	return p, rel, nil
}

// heldRelease reads the release notes of a bundle held here, under the
// data folder's lock (waiting briefly: status must answer while a cycle
// runs).
func heldRelease(e *env, u *bundle.Updater, version string) (*sbundle.Release, error) {
	l, err := lock.Acquire(context.Background(), e.cfg.DataDir, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer l.Release()
	return u.Release(version)
}

// versionArg is the one VERSION argument, or the version waiting for
// approval when none is given.
func versionArg(fs *flag.FlagSet, st bundle.Status, path string) (string, error) {
	args, err := cli.Args(fs)
	if err != nil {
		return "", err
	}
	switch {
	case len(args) > 1:
		return "", cli.Usagef("give one search bundle version")
	case len(args) == 1:
		return args[0], nil
	case st.WaitingApproval != "":
		return st.WaitingApproval, nil
	}
	return "", cli.WithCode(cli.ExitConfig, fmt.Errorf("no search bundle is waiting for approval (%s shows what runs)", hint(path, "status")))
}

func reviewCommand() *cli.Command {
	var path string
	var wait time.Duration
	return &cli.Command{
		Name:    "review",
		Summary: "read a waiting search bundle's release notes and what it changes",
		Usage:   "review [VERSION] [--config FILE]",
		Help: `Prints the release notes of a search bundle held here (by default the one
waiting for your approval) and the summary of what it changes against the
version before it: measures added, removed or changed and why, parameters,
codelist codes and reference tables. When this practice runs another version
than the one the summary compares with, it also compares with what runs here.
Nothing is changed or sent. Then compare the figures on your own data with
preview --bundle, and approve.

Examples:
  steward-agent review --config agent.yaml
  steward-agent review 2026.2.0 --config agent.yaml`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &path)
			fs.DurationVar(&wait, "wait", time.Minute, "how long to wait for a cycle working on the data folder")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			e, err := loadEnv(path, stdio.Err)
			if err != nil {
				return err
			}
			u, err := needUpdater(e)
			if err != nil {
				return err
			}
			st, err := u.Status()
			if err != nil {
				return err
			}
			version, err := versionArg(fs, st, path)
			if err != nil {
				return err
			}
			waiting, rel, err := heldPack(ctx, e, u, version, wait)
			if err != nil {
				return cli.WithCode(cli.ExitConfig, err)
			}
			running, source, err := e.pack()
			if err != nil {
				return cli.WithCode(cli.ExitConfig, err)
			}
			state := "held here"
			switch version {
			case st.WaitingApproval:
				state = "waiting for your approval"
			case st.Current:
				state = "running now"
			}
			fmt.Fprintf(stdio.Out, "search bundle %s %s: %s (running now: %s)\n", waiting.ID, version, state, source)
			if rel == nil {
				fmt.Fprintln(stdio.Out, "release notes: none (the bundle was built before bundles carried them)")
			} else {
				fmt.Fprintln(stdio.Out, "release notes:")
				for _, line := range strings.Split(strings.TrimRight(rel.Notes, "\n"), "\n") {
					fmt.Fprintf(stdio.Out, "  %s\n", line)
				}
				if rel.Previous == "" {
					fmt.Fprintln(stdio.Out, "changes: the first release of the pack")
				} else {
					fmt.Fprintf(stdio.Out, "changes since %s (made when the bundle was built):\n", rel.Previous)
					printLines(stdio.Out, rel.Changes.Lines())
				}
			}
			if running.Version != version && (rel == nil || rel.Previous != running.Version) {
				c, err := sbundle.Diff(running, waiting)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdio.Out, "changes against what runs here (%s), compared here:\n", source)
				printLines(stdio.Out, c.Lines())
			}
			if version == st.WaitingApproval {
				fmt.Fprintf(stdio.Out, "next: compare the figures on this practice's data: %s\n", hint(path, "preview --bundle "+version))
				fmt.Fprintf(stdio.Out, "      then approve it: %s\n", hint(path, "approve "+version))
			}
			return nil
		},
	}
}

func printLines(w io.Writer, lines []string) {
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", l)
	}
}

func approveCommand() *cli.Command {
	var path string
	var wait time.Duration
	return &cli.Command{
		Name:    "approve",
		Summary: "let a verified new search bundle version run (approval mode manual)",
		Usage:   "approve VERSION [--config FILE]",
		Help: `With bundle.approval: manual, a new search bundle is verified and checked,
then waits for you. Read it first (review), compare its figures with the
running version on this practice's data (preview --bundle), then approve it:
it runs from the next cycle. A version its authors withdrew is refused.

Examples:
  steward-agent review 2026.2.0 --config agent.yaml
  steward-agent preview --bundle 2026.2.0 --config agent.yaml
  steward-agent approve 2026.2.0 --config agent.yaml`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &path)
			fs.DurationVar(&wait, "wait", time.Minute, "how long to wait for a cycle working on the data folder")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			args, err := cli.Args(fs)
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return cli.Usagef("give the bundle version to approve (steward-agent status shows it)")
			}
			e, err := loadEnv(path, stdio.Err)
			if err != nil {
				return err
			}
			e.lockWait = wait
			u, err := needUpdater(e)
			if err != nil {
				return err
			}
			if err := u.Approve(ctx, args[0]); err != nil {
				switch {
				case errors.Is(err, bundle.ErrNotWaiting):
					return cli.WithCode(cli.ExitConfig, fmt.Errorf("%w\n  %s shows what waits", err, hint(path, "status")))
				case errors.Is(err, bundle.ErrWithdrawn), errors.Is(err, bundle.ErrRollback), errors.Is(err, bundle.ErrRefused), errors.Is(err, bundle.ErrCheck):
					return cli.WithCode(cli.ExitConfig, err)
				}
				return err
			}
			fmt.Fprintf(stdio.Out, "approved search bundle %s: it runs from the next cycle\n", args[0])
			return nil
		},
	}
}

// previewBundle runs the running pack and a held bundle on the practice's
// data as of asOf and prints each measure side by side. Nothing is queued
// or sent.
func previewBundle(ctx context.Context, e *env, path, version string, asOf time.Time, wait time.Duration, stdio cli.IO) error {
	u, err := needUpdater(e)
	if err != nil {
		return err
	}
	waiting, _, err := heldPack(ctx, e, u, version, wait)
	if err != nil {
		return cli.WithCode(cli.ExitConfig, err)
	}
	running, source, err := e.pack()
	if err != nil {
		return cli.WithCode(cli.ExitConfig, err)
	}
	base := e.cfg.BaselineDate()
	cur, err := runner{e: e, pack: running}.document(ctx, asOf, base)
	if err != nil {
		return cli.WithCode(cli.ExitDatabase, fmt.Errorf("running %s: %w", source, err))
	}
	next, err := runner{e: e, pack: waiting}.document(ctx, asOf, base)
	if err != nil {
		return cli.WithCode(cli.ExitDatabase, fmt.Errorf("bundle %s: %w", version, err))
	}
	fmt.Fprintf(stdio.Out, "preview as of %s on this practice's data: %s beside bundle %s; nothing is queued or sent\n",
		asOf.Format(time.DateOnly), source, version)
	printComparison(stdio.Out, cur, next, running.Version, version)
	st, _ := u.Status()
	if version == st.WaitingApproval {
		fmt.Fprintf(stdio.Out, "approve it with: %s\n", hint(path, "approve "+version))
	}
	return nil
}

// printComparison prints the measures of two documents side by side.
func printComparison(w io.Writer, cur, next *results.Document, curVersion, nextVersion string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "measure\t%s\t%s\tchange\t\n", curVersion, nextVersion)
	seen := map[string]bool{}
	changed := 0
	row := func(id string, a, b *results.Measure) {
		av, bv, change := "—", "—", ""
		if a != nil {
			av = figure(a)
		}
		if b != nil {
			bv = figure(b)
		}
		switch {
		case a == nil:
			change = "new measure"
		case b == nil:
			change = "removed"
		case av != bv:
			change = "changed"
			if a.Value != nil && b.Value != nil && !a.Suppressed && !b.Suppressed {
				change = strconv.FormatFloat(*b.Value-*a.Value, 'f', -1, 64)
				if *b.Value > *a.Value {
					change = "+" + change
				}
			}
		}
		if change != "" {
			changed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", id, av, bv, change)
	}
	for i := range next.Measures {
		m := &next.Measures[i]
		seen[m.ID] = true
		row(m.ID, cur.Find(m.ID), m)
	}
	for i := range cur.Measures {
		if m := &cur.Measures[i]; !seen[m.ID] {
			row(m.ID, m, nil)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "%d of %d measures differ\n", changed, len(seen)+countMissing(cur, seen))
}

func countMissing(d *results.Document, seen map[string]bool) int {
	n := 0
	for _, m := range d.Measures {
		if !seen[m.ID] {
			n++
		}
	}
	return n
}

// figure formats a measure's value for the comparison.
func figure(m *results.Measure) string {
	switch {
	case m.Suppressed:
		return "suppressed"
	case m.Value == nil:
		return "—"
	}
	v := strconv.FormatFloat(*m.Value, 'f', -1, 64)
	if m.Kind == "ratio" && m.Numerator != nil && m.Denominator != nil {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			v = strconv.FormatFloat(f, 'f', 4, 64)
			v = strings.TrimRight(strings.TrimRight(v, "0"), ".")
		}
		v += fmt.Sprintf(" (%s/%s)", strconv.FormatFloat(*m.Numerator, 'f', -1, 64), strconv.FormatFloat(*m.Denominator, 'f', -1, 64))
	}
	return v
}

// bundleLines describes the search-bundle state for status, each with what
// to do.
func bundleLines(e *env, u *bundle.Updater, path string) [][2]string {
	st, err := u.Status()
	if err != nil {
		return [][2]string{{"bundle error", err.Error()}}
	}
	var out [][2]string
	if v := st.WaitingApproval; v != "" {
		line := v + " waits for your approval"
		if rel, err := heldRelease(e, u, v); err == nil && rel != nil {
			first, _, _ := strings.Cut(strings.TrimSpace(rel.Notes), "\n")
			line += ": " + first
		}
		out = append(out, [2]string{"awaiting", line},
			[2]string{"", "read it: " + hint(path, "review "+v)},
			[2]string{"", "compare: " + hint(path, "preview --bundle "+v)},
			[2]string{"", "approve: " + hint(path, "approve "+v)})
	}
	if f := st.Failed; f != nil {
		out = append(out, [2]string{"failed check", f.Version + " (" + f.At.UTC().Format(time.RFC3339) + "): " + f.Reason + "; the version before it keeps running: tell your ICB"})
	}
	if fb := st.FellBack; fb != nil {
		to := "the built-in pack"
		if fb.To != "" {
			to = "bundle " + fb.To
		}
		out = append(out, [2]string{"withdrawn", fmt.Sprintf("%s was withdrawn by its authors (%s); fell back to %s at %s", fb.From, fb.Reason, to, fb.At.UTC().Format(time.RFC3339))})
	}
	for v, w := range st.Withdrawn {
		if w.Held && (st.FellBack == nil || st.FellBack.From != v) {
			out = append(out, [2]string{"withdrawn", v + " (" + w.Reason + "): it will not run here"})
		}
	}
	if st.Stale() {
		out = append(out, [2]string{"stale since", st.StaleSince.Format(time.RFC3339) + ": no fresh search bundle metadata from the collector; the current bundle keeps running"})
	}
	if st.LastError != "" {
		out = append(out, [2]string{"bundle error", st.LastError})
	}
	return out
}
