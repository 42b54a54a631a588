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

// searchTest runs "steward search test args..." with the command mounted
// under a search command, as commands() does.
func searchTest(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("STEWARD_TEST_PG", "")
	p := program()
	p.Cmds = []*cli.Command{{Name: "search", Summary: "author searches", Sub: []*cli.Command{searchTestCommand()}}}
	var out, errOut bytes.Buffer
	code = p.Do(context.Background(), append([]string{"search", "test"}, args...), cli.IO{In: strings.NewReader(""), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

func TestSearchTestPasses(t *testing.T) {
	code, out, errOut := searchTest(t, "../../testdata/search-small/ok.test.yaml")
	if code != cli.ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"PASS ../../testdata/search-small/ok.test.yaml: one high-dose user (eval, sqlite/canonical, sqlite/emis, sqlite/tpp;",
		"skipped, reading quantities the layout lacks: 5 on sqlite/emis)",
		"2 cases in 1 files on eval, sqlite/canonical, sqlite/emis, sqlite/tpp: 2 passed, 0 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}

const failing = `steward: search-test/v1
search_inline:
  steward: search/v1
  id: reg
  variables:
    reg: registered
  measures:
    - id: registered
      count: reg
cases:
  - name: wrong on purpose
    practice: Y01234
    as_of: 2025-03-31
    patients:
      - {id: 1, sex: F, date_of_birth: 1960-01-01, registrations: [{start: 2000-01-01}]}
    expect:
      patients:
        1: {reg: false}
      measures: {registered: 2}
`

func TestSearchTestFails(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "reg.test.yaml"), []byte(failing), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := searchTest(t, "--engines", "eval,sqlite/tpp", dir)
	if code != cli.ExitFailure {
		t.Fatalf("exit %d, want %d\n%s", code, cli.ExitFailure, out)
	}
	for _, want := range []string{
		"FAIL " + filepath.Join(dir, "reg.test.yaml") + ": wrong on purpose",
		"    on eval:",
		"    on sqlite/tpp:",
		"reg.test.yaml:18:18: patient 1 reg: got true, want false",
		"reg.test.yaml:19:30: measure registered: got 1, want 2",
		"1 cases in 1 files on eval, sqlite/tpp: 0 passed, 1 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}

func TestSearchTestInvalid(t *testing.T) {
	dir := t.TempDir()
	bad := strings.Replace(failing, "as_of: 2025-03-31", "as_of: yesterday", 1)
	if err := os.WriteFile(filepath.Join(dir, "bad.test.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := searchTest(t, "--engines", "eval", dir)
	if code != cli.ExitConfig {
		t.Fatalf("exit %d, want %d\n%s", code, cli.ExitConfig, out)
	}
	if want := "bad.test.yaml:13:12: as_of must be a date"; !strings.Contains(out, want) {
		t.Errorf("stdout lacks %q:\n%s", want, out)
	}
}

func TestSearchTestEngines(t *testing.T) {
	code, _, errOut := searchTest(t, "--engines", "postgres", "x.test.yaml")
	if code != cli.ExitUsage || !strings.Contains(errOut, "needs --pg URL") {
		t.Errorf("postgres without a URL: exit %d\n%s", code, errOut)
	}
	code, _, errOut = searchTest(t, "--engines", "oracle", "x.test.yaml")
	if code != cli.ExitUsage || !strings.Contains(errOut, `unknown engine "oracle"`) {
		t.Errorf("unknown engine: exit %d\n%s", code, errOut)
	}
}

// TestSearchExamples: the example searches in searches/examples pass their
// fixtures (issue #15: examples written with dates, row values and
// categories).
func TestSearchExamples(t *testing.T) {
	code, out, errOut := searchTest(t, "../../searches/examples")
	if code != cli.ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"ome-rising.test.yaml", "qof-opioid-review.test.yaml", "multiple-long-acting.test.yaml",
		"never-reviewed.test.yaml", "new-starters.test.yaml", "opioid-gabapentinoid.test.yaml", "large-issues.test.yaml",
		"high-dose-series.test.yaml", ": 9 passed, 0 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}
