package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/internal/cli"
)

// lint runs "steward search lint args..." with the lint command mounted
// under a search command, as commands() does.
func lint(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := program()
	p.Cmds = []*cli.Command{{Name: "search", Summary: "author searches", Sub: []*cli.Command{searchLintCommand()}}}
	var out, errOut bytes.Buffer
	code = p.Do(context.Background(), append([]string{"search", "lint"}, args...), cli.IO{In: strings.NewReader(""), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

const langTestdata = "../../searches/lang/testdata"

func TestSearchLintValid(t *testing.T) {
	code, out, errOut := lint(t, langTestdata+"/valid")
	if code != cli.ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"valid/medsip.yaml: ok: search medsip, 14 variables, 10 measures, a local worklist, codelists opioids (",
		"valid/pack.yaml: ok: pack medsip 2026.1.0, 2 searches, 13 measures",
		"valid/reviews.yaml: ok: search reviews",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}

func TestSearchLintProblems(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("steward: search/v1\nid: bad\nvariables:\n  x: registerd\nmeasures:\n  - id: x\n    count: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fixture := filepath.Join(dir, "bad.test.yaml")
	if err := os.WriteFile(fixture, []byte("steward: search-test/v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := lint(t, dir, filepath.Join(dir, "missing.yaml"))
	if code != cli.ExitConfig {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, cli.ExitConfig, out, errOut)
	}
	for _, want := range []string{
		bad + `:4:6: undefined name "registerd" (did you mean "registered"?)`,
		// Fixture files are checked (not run) since issue #15: this one
		// names no search, which is now a problem lint reports.
		fixture + ":1:1: a fixture file has no search",
		filepath.Join(dir, "missing.yaml") + ": no such file or directory",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if want := "steward search lint: 3 problems in 3 files\n"; errOut != want {
		t.Errorf("stderr = %q, want %q", errOut, want)
	}
}

func TestSearchLintInvalidFixtures(t *testing.T) {
	code, out, _ := lint(t, langTestdata+"/invalid/window_months_zero.yaml", langTestdata+"/invalid/pack_duplicates.yaml")
	if code != cli.ExitConfig {
		t.Fatalf("exit %d, want %d", code, cli.ExitConfig)
	}
	if want := "invalid/window_months_zero.yaml:10:48: window months must be between 1 and 1200, not 0"; !strings.Contains(out, want) {
		t.Errorf("stdout lacks %q:\n%s", want, out)
	}
	if want := `measure id "registered" is also used at`; !strings.Contains(out, want) {
		t.Errorf("stdout lacks %q:\n%s", want, out)
	}
}

func TestSearchLintUsage(t *testing.T) {
	if code, _, _ := lint(t); code != cli.ExitUsage {
		t.Errorf("no paths: exit %d, want %d", code, cli.ExitUsage)
	}
	code, out, _ := lint(t, "--help")
	if code != cli.ExitOK || !strings.Contains(out, "Usage: steward search lint PATH...\n") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
}

// TestSearchLintBaseline: a search that needs a baseline says so, with
// where, and a fixture case without one is a lint problem at the case,
// naming what in the search uses the baseline (issue #15), rather than an
// engine error when the case runs.
func TestSearchLintBaseline(t *testing.T) {
	dir := t.TempDir()
	search := filepath.Join(dir, "b.yaml")
	if err := os.WriteFile(search, []byte("steward: search/v1\nid: b\nvariables:\n  adult: registered and age >= 18\nmeasures:\n  - id: now\n    count: adult\n  - id: then\n    count: adult@baseline\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fix := filepath.Join(dir, "b.test.yaml")
	if err := os.WriteFile(fix, []byte("steward: search-test/v1\nsearch: b.yaml\ncases:\n  - name: no baseline\n    practice: Y01234\n    as_of: 2025-03-31\n    patients: []\n    expect: {measures: {now: 0}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := lint(t, dir)
	if code != cli.ExitConfig {
		t.Fatalf("exit %d, want %d\n%s", code, cli.ExitConfig, out)
	}
	for _, want := range []string{
		fix + `:4:5: case "no baseline" has no baseline, but search b needs one: adult@baseline at ` + search + `:9:12 (add baseline: YYYY-MM-DD to the case`,
		search + ": ok: search b, 1 variable, 2 measures; needs a baseline date (adult@baseline at line 9): runs give --baseline, fixture cases baseline:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}
