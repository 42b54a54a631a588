package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/searches/fixture"
	"github.com/nhs-steward/steward/searches/lang"
	"github.com/nhs-steward/steward/searches/model"
)

// searchLintCommand is "steward search lint": load every search file and
// pack manifest given (or found in the directories given) with the strict
// loader, and report every problem as file:line:col.
func searchLintCommand() *cli.Command {
	return &cli.Command{
		Name:    "lint",
		Summary: "check search files and pack manifests, reporting every problem",
		// The framework prints Usage after the parent's path ("steward search").
		Usage: "lint PATH...",
		Help: `Each PATH is a search file, a pack manifest (pack.yaml), a fixture file or a directory. In
a directory, every .yaml and .yml file is checked, in sub-directories too (except hidden ones
and testdata). Fixture files (*.test.yaml, steward: search-test/v1) are checked but not run
(a case without the baseline its search needs is reported here): steward search test runs
them.

Problems are printed one a line as file:line:col: what is wrong (how to fix), and the
command exits with status 3. A file without problems gets a one-line summary.

Examples:
  steward search lint searches/packs/medsip
  steward search lint searches/packs/medsip/pack.yaml
  steward search lint my-search.yaml other-search.yaml`,
		Run: func(_ context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if fs.NArg() == 0 {
				return cli.Usagef("give at least one search file, pack manifest or directory")
			}
			return lintPaths(fs.Args(), stdio)
		},
	}
}

// lintPaths lints every path and returns an ExitConfig error when any has
// a problem.
func lintPaths(paths []string, stdio cli.IO) error {
	var files []string
	problems, bad := 0, 0
	seen := map[string]bool{}
	report := func(line string) {
		if !seen[line] {
			seen[line] = true
			problems++
			fmt.Fprintln(stdio.Out, line)
		}
	}
	for _, p := range paths {
		found, err := lintFiles(p)
		if err != nil {
			report(fmt.Sprintf("%s: %v", p, err))
			bad++
			continue
		}
		files = append(files, found...)
	}
	for _, f := range files {
		if !lintFile(f, stdio, report) {
			bad++
		}
	}
	if problems > 0 {
		return cli.WithCode(cli.ExitConfig, fmt.Errorf("%d %s in %d %s", problems, plural(problems, "problem"), bad, plural(bad, "file")))
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// lintFiles returns path if it is a file, or the YAML files under it.
func lintFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errors.New("no such file or directory")
		}
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	var out []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != path && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if ext := filepath.Ext(p); ext == ".yaml" || ext == ".yml" {
			out = append(out, p)
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

// lintFile lints one file, reporting its problems, and says whether it had
// none.
func lintFile(path string, stdio cli.IO, report func(string)) bool {
	src, err := os.ReadFile(path)
	if err != nil {
		report(fmt.Sprintf("%s: %v", path, err))
		return false
	}
	var summary string
	switch lang.Version(src) {
	case lang.VersionFixture:
		// Checked, not run: a fixture's problems (a case without the
		// baseline its search needs, a misspelt key) show in lint;
		// steward search test runs the cases.
		var f *fixture.File
		if f, err = fixture.Parse(path, src); err == nil {
			summary = fmt.Sprintf("fixture for search %s, %d %s (steward search test runs them)", f.Search.ID, len(f.Cases), plural(len(f.Cases), "case"))
		}
	case lang.VersionPack:
		var p *model.Pack
		if p, err = lang.LoadPack(path); err == nil {
			summary = packSummary(p)
		}
	default:
		var s *model.Search
		if s, err = lang.LoadSearch(path); err == nil {
			summary = searchSummary(s)
		}
	}
	var es lang.Errors
	switch {
	case errors.As(err, &es):
		for _, e := range es {
			report(e.Error())
		}
		return false
	case err != nil:
		report(fmt.Sprintf("%s: %v", path, err))
		return false
	}
	fmt.Fprintf(stdio.Out, "%s: ok: %s\n", path, summary)
	return true
}

func searchSummary(s *model.Search) string {
	var b strings.Builder
	fmt.Fprintf(&b, "search %s, %d %s, %d %s", s.ID,
		len(s.Variables), plural(len(s.Variables), "variable"),
		len(s.Measures), plural(len(s.Measures), "measure"))
	if s.Worklist != nil {
		b.WriteString(", a local worklist")
	}
	if len(s.Codelists) > 0 {
		cls := make([]string, len(s.Codelists))
		for i, c := range s.Codelists {
			cls[i] = fmt.Sprintf("%s (%d %s)", c.Name, len(c.Codes), plural(len(c.Codes), "code"))
		}
		fmt.Fprintf(&b, ", %s %s", plural(len(cls), "codelist"), strings.Join(cls, ", "))
	}
	if pos, what, ok := model.BaselineUse(s); ok {
		// Said here so that an author knows before any run: every run, and
		// every fixture case, must give a baseline date.
		fmt.Fprintf(&b, "; needs a baseline date (%s at line %d): runs give --baseline, fixture cases baseline:", what, pos.Line)
	}
	return b.String()
}

func packSummary(p *model.Pack) string {
	measures := 0
	for _, s := range p.Searches {
		measures += len(s.Measures)
	}
	searches := "searches"
	if len(p.Searches) == 1 {
		searches = "search"
	}
	return fmt.Sprintf("pack %s %s, %d %s, %d %s", p.ID, p.Version,
		len(p.Searches), searches, measures, plural(measures, "measure"))
}
